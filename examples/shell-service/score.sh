#!/bin/sh
# score.sh is a Flame task written in shell: it counts how often the word
# in the session's common data occurs in the task's input.
#
#   stdin                    the task's input
#   stdout                   the task's output
#   FLAME_COMMON_DATA_FILE   a file with the session's common data
#   FLAME_SESSION_ID, FLAME_TASK_ID
#
# A non-zero exit fails the task; the end of stderr becomes its message.
set -eu

word=$(cat "$FLAME_COMMON_DATA_FILE")
input=$(cat)
if [ -z "$input" ]; then
	echo "score.sh: empty input in task $FLAME_TASK_ID of session $FLAME_SESSION_ID" >&2
	exit 1
fi
printf '%s\n' "$input" | tr -cs '[:alnum:]' '\n' | grep -cx -- "$word" || true
