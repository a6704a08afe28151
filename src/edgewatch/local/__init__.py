"""The local Greengrass runtime: an IPC server and a component lifecycle manager for dev and tests."""
