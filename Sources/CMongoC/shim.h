#ifndef LOGPIPE_CMONGOC_SHIM_H
#define LOGPIPE_CMONGOC_SHIM_H

#include <mongoc/mongoc.h>
#include <bson/bson.h>

#endif
