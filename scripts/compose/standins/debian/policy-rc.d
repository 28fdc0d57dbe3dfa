#!/bin/sh
# No services are started while packages are installed in an image.
exit 101
