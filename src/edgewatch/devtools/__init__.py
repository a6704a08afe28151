"""Developer tools that check the code base itself (run by the test suite); not used at run time."""
