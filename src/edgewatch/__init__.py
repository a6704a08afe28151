"""EdgeWatch: edge monitoring for AWS IoT Greengrass v2, and the local runtime used to develop it."""

__version__ = "0.1.0"
