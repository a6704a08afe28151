import sys

from lib.greeting import greet  # a second, unlisted file: the whole artifact folder must be staged

message = greet(sys.argv[1])
# The tutorial writes its greeting to a file; here it goes to the work dir (the step's cwd) and stdout.
with open("Greengrass_HelloWorld.log", "a") as f:
    print(message, file=f)
print(message)
