import LogPipeApp

await LogPipeCommand.runAsRoot()
