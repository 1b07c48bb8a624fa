#!/usr/bin/env bash
# Helpers the side-by-side bench scripts share; sourced, never run
# (bench/run.sh skips it).

# A TCP port free on 127.0.0.1 now.
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The median of the numbers on stdin, one per line.
median() { sort -g | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

# wait_line FILE SED-EXPRESSION: the first match in FILE, or nothing after 10 s.
wait_line() {
    local v=
    for _ in $(seq 1 100); do
        v=$(sed -n "$2" "$1")
        [ -n "$v" ] && break
        sleep 0.1
    done
    echo "$v"
}
