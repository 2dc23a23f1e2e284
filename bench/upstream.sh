#!/usr/bin/env bash
# Writes the nginx configs for the bench: a fast fake OpenAI upstream (echo
# module: a fixed chat.completion, a fixed 20-chunk SSE stream, and a slow
# stream of 20 chunks one second apart for the scale test) and a bare nginx
# reverse-proxy hop in front of it (the reference a gateway should match), each
# its own nginx with one worker, so the hop does not share the upstream's CPU.
#   upstream.sh WORKDIR UPSTREAM_PORT PROXY_PORT
#     -> WORKDIR/nginx.conf (upstream), WORKDIR/proxy.conf (hop),
#        WORKDIR/answer.json, WORKDIR/answer.sse (the same bytes, for other servers)
set -euo pipefail
work=$1 up=$2 proxy=$3
id=chatcmpl-bench0000000000000000
# One echo directive per SSE event (nginx caps a directive's parameter length).
chunk() {
  printf "      echo -n 'data: {\"id\":\"%s\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-bench\",\"choices\":[{\"index\":0,\"delta\":%s,\"logprobs\":null,\"finish_reason\":%s}]}\\\\n\\\\n';\n" "$id" "$1" "$2"
}
sse=$(chunk '{"role":"assistant","content":""}' null)$'\n'
for i in $(seq 1 18); do sse+=$(chunk "{\"content\":\"token$i \"}" null)$'\n'; done
sse+=$(chunk '{}' '"stop"')$'\n'
sse+="      echo -n 'data: {\"id\":\"$id\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-bench\",\"choices\":[],\"usage\":{\"prompt_tokens\":250,\"completion_tokens\":18,\"total_tokens\":268}}\\n\\n';"$'\n'
sse+="      echo -n 'data: [DONE]\\n\\n';"
slow=$(chunk '{"role":"assistant","content":""}' null)$'\n'"      echo_flush;"$'\n'
for i in $(seq 1 20); do slow+="      echo_sleep 1;"$'\n'$(chunk "{\"content\":\"token$i \"}" null)$'\n'"      echo_flush;"$'\n'; done
slow+=$(chunk '{}' '"stop"')$'\n'
slow+="      echo -n 'data: [DONE]\\n\\n';"
json='{"id":"'$id'","object":"chat.completion","created":1700000000,"model":"gpt-bench","choices":[{"index":0,"message":{"role":"assistant","content":"A linked list is reversed by walking it once and pointing each node back at the one before."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":250,"completion_tokens":20,"total_tokens":270}}'
# The same answers as plain files (the bare Pistache handler serves them).
printf '%s' "$json" > "$work/answer.json"
printf '%s\n' "$sse" | sed -E "s/^ *echo -n '(.*)';$/\1/" | sed 's/\\n/\n/g' | tr -d '\r' > "$work/answer.sse.tmp"
# Each event is "data: ...\n\n"; the line-wise round trip leaves one newline per
# line, so rebuild it exactly from the data lines.
grep '^data: ' "$work/answer.sse.tmp" | awk '{printf "%s\n\n", $0}' > "$work/answer.sse"
rm -f "$work/answer.sse.tmp"

common() {  # $1: name of this nginx (pid, logs, temp paths)
  cat <<CONF
worker_processes 1;
daemon off;
pid $work/$1.pid;
error_log $work/$1-error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 19000; }
CONF
}
temp() {
  cat <<CONF
  access_log off;
  client_body_temp_path $work/$1-body;
  proxy_temp_path $work/$1-proxy;
  fastcgi_temp_path $work/$1-fastcgi;
  uwsgi_temp_path $work/$1-uwsgi;
  scgi_temp_path $work/$1-scgi;
  keepalive_requests 1000000;
  client_max_body_size 64m;
CONF
}
{
  echo "load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;"
  common upstream
  echo "http {"
  temp upstream
  cat <<CONF
  server {
    listen 127.0.0.1:$up backlog=4096;
    location = /v1/chat/completions {
      default_type application/json;
      echo_read_request_body;
      echo -n '$json';
    }
    location = /sse/v1/chat/completions {
      default_type text/event-stream;
      echo_read_request_body;
$sse
    }
    location = /slow/v1/chat/completions {
      default_type text/event-stream;
      echo_read_request_body;
$slow
    }
  }
}
CONF
} > "$work/nginx.conf"
{
  common proxy
  echo "http {"
  temp proxy
  cat <<CONF
  upstream fake { server 127.0.0.1:$up; keepalive 256; }
  server {
    listen 127.0.0.1:$proxy backlog=4096;
    location / {
      proxy_pass http://fake;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
CONF
} > "$work/proxy.conf"
