"""The early start's two words, shared by the runner (runners/commands.py) and the stage
process (cli/stage_cmd.py), which must not load the runner's code to know them."""

# Set in an early-started stage process's environment (and removed there before it reads
# the project or starts a tool): wait for a line on stdin first.
WAITS = "PIPELINES_STAGE_WAITS"
# The line that lets it go; anything else (the pipe closed) means it never will.
GO = b"go\n"
