#!/usr/bin/env bash
# A Testground plan in plain bash. It reads the TEST_* environment, speaks the sync
# service's websocket protocol through bash's /dev/tcp (handshake and framing done
# here), and reports as Testground's SDKs do: each event as a JSON line on stdout and
# published on the run's run_events topic.
#
# Case `greet`: enrol (signal_entry), publish a greeting, wait for everyone (barrier),
# then read the topic from its start and check that every instance's greeting is there.
set -euo pipefail
export LC_ALL=C # one character per byte: websocket lengths count bytes

die() {
  echo "plan.sh: $*" >&2
  exit 1
}

# --- websocket (RFC 6455), client side ------------------------------------------------

ws_connect() {
  exec 3<>"/dev/tcp/$SYNC_SERVICE_HOST/$SYNC_SERVICE_PORT" || die "cannot reach the sync service"
  local key line
  key=$(head -c 16 /dev/urandom | base64)
  printf 'GET / HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n' \
    "$SYNC_SERVICE_HOST" "$SYNC_SERVICE_PORT" "$key" >&3
  IFS= read -r line <&3 || die "no handshake answer"
  [[ $line == "HTTP/1.1 101"* ]] || die "handshake refused: $line"
  while IFS= read -r line <&3 && [[ $line != $'\r' ]]; do :; done
}

# One client frame, FIN set, masked as clients must. The masking key is zero, which
# leaves the payload bytes as they are (XOR with 0).
ws_frame() { # $1: opcode (hex digit), $2: payload
  local n=${#2} length
  if ((n < 126)); then
    length=$(printf '\\x%02x' $((0x80 | n)))
  elif ((n < 65536)); then
    length=$(printf '\\xfe\\x%02x\\x%02x' $((n >> 8)) $((n & 255)))
  else
    die "frame of $n bytes is too large for this plan"
  fi
  printf "\\x8$1$length\\x00\\x00\\x00\\x00%s" "$2" >&3
}

read_byte() { # $1: variable that gets the byte's value
  local c
  IFS= read -r -d '' -n 1 c <&3 || die "the sync service closed the connection"
  if [[ -z $c ]]; then printf -v "$1" 0; else printf -v "$1" '%d' "'$c"; fi
}

# The next text frame from the server into FRAME; answers pings on the way.
ws_recv() {
  local b0 b1 n i byte payload
  while :; do
    read_byte b0
    read_byte b1
    n=$((b1 & 127))
    if ((n == 126)); then
      read_byte i && read_byte byte && n=$(((i << 8) | byte))
    elif ((n == 127)); then
      n=0
      for _ in 1 2 3 4 5 6 7 8; do read_byte byte && n=$(((n << 8) | byte)); done
    fi
    payload=
    if ((n > 0)); then IFS= read -r -d '' -N "$n" payload <&3 || die "short frame"; fi
    case $((b0 & 15)) in
      1) FRAME=$payload && return 0 ;;
      9) ws_frame a "$payload" ;;
      8) die "the sync service closed the connection" ;;
    esac
  done
}

# --- the sync service's requests ----------------------------------------------------

next_id=0
request() { # $1: the operation member, e.g. "signal_entry":{"state":"s"}; sets ID
  next_id=$((next_id + 1))
  ID=$next_id
  ws_frame 1 "{\"id\":\"$ID\",$1}"
}

# Waits for the answer to request $1 into REPLY. Frames for other requests (a
# subscription's stream) are queued in FRAMES, in arrival order.
FRAMES=()
await_reply() {
  while ws_recv; do
    [[ $FRAME =~ \"id\":\"([^\"]*)\" ]] || die "frame without an id: $FRAME"
    if [[ ${BASH_REMATCH[1]} == "$1" ]]; then
      [[ $FRAME =~ \"error\":\"([^\"]*)\" && -n ${BASH_REMATCH[1]} ]] &&
        die "request $1 failed: ${BASH_REMATCH[1]}"
      REPLY=$FRAME
      return 0
    fi
    FRAMES+=("$FRAME")
  done
}

seq_of() { [[ $1 =~ \"seq\":([0-9]+) ]] && echo "${BASH_REMATCH[1]}"; }

json_string() { # $1 as a JSON string literal (this plan's text is printable ASCII)
  local s=${1//\\/\\\\}
  printf '"%s"' "${s//\"/\\\"}"
}

scope="run:$TEST_RUN:plan:$TEST_PLAN:case:$TEST_CASE"

# An event, as the SDKs report it: a JSON line on stdout, then published on run_events.
emit() {
  printf '{"ts":%s,"group_id":"%s","event":%s}\n' "$(date +%s%N)" "$TEST_GROUP_ID" "$1"
  request "\"publish\":{\"topic\":\"$scope:run_events\",\"payload\":$1}"
  await_reply "$ID"
}
message() { emit "{\"message_event\":{\"message\":$(json_string "$1")}}"; }

# --- the test case ------------------------------------------------------------------

declare -A param
IFS='|' read -r -a pairs <<<"${TEST_INSTANCE_PARAMS:-}"
for pair in "${pairs[@]}"; do param[${pair%%=*}]=${pair#*=}; done

[[ $TEST_CASE == greet ]] || die "unknown test case: $TEST_CASE"
ws_connect
emit "{\"start_event\":{\"runenv\":{\"plan\":\"$TEST_PLAN\",\"case\":\"$TEST_CASE\"}}}"

request "\"signal_entry\":{\"state\":\"$scope:states:enrolled\"}"
await_reply "$ID"
me=$(seq_of "$REPLY")
message "$(cat build-info.txt); I am instance $me of $TEST_INSTANCE_COUNT"

greeting="${param[greeting]} from $me"
request "\"publish\":{\"topic\":\"$scope:topics:greetings\",\"payload\":{\"from\":$me,\"text\":$(json_string "$greeting")}}"
await_reply "$ID"
request "\"barrier\":{\"state\":\"$scope:states:enrolled\",\"target\":$TEST_INSTANCE_COUNT}"
await_reply "$ID"

request "\"subscribe\":{\"topic\":\"$scope:topics:greetings\"}"
subscription=$ID
heard=()
while ((${#heard[@]} < TEST_INSTANCE_COUNT)); do
  ws_recv
  [[ $FRAME =~ \"id\":\"$subscription\" ]] || die "unexpected frame: $FRAME"
  # The payload arrives as JSON text inside a JSON string, so its quotes are escaped.
  [[ $FRAME =~ \\\"from\\\":([0-9]+) ]] || die "greeting without a sender: $FRAME"
  heard+=("${BASH_REMATCH[1]}")
done
ws_frame 1 "{\"id\":\"$subscription\",\"is_cancel\":true}"

senders=$(printf '%s\n' "${heard[@]}" | sort -n | paste -sd,)
expected=$(seq 1 "$TEST_INSTANCE_COUNT" | paste -sd,)
printf '%s\n' "${heard[@]}" >"$TEST_OUTPUTS_PATH/heard.txt"

if [[ $senders != "$expected" ]]; then
  emit "{\"failure_event\":{\"group\":\"$TEST_GROUP_ID\",\"error\":\"heard from $senders, expected $expected\"}}"
elif ((me == ${param[fail_seq]:-0})); then
  emit "{\"failure_event\":{\"group\":\"$TEST_GROUP_ID\",\"error\":\"instance $me was told to fail\"}}"
else
  message "heard from $senders"
  emit "{\"success_event\":{\"group\":\"$TEST_GROUP_ID\"}}"
fi
