#!/usr/bin/env bash
# Writes an nginx config for the bench: a fast fake OpenAI upstream (echo
# module: a fixed chat.completion and a fixed 20-chunk SSE stream) and a bare
# nginx reverse-proxy hop in front of it (the reference a gateway should match).
#   upstream.sh WORKDIR UPSTREAM_PORT PROXY_PORT   -> WORKDIR/nginx.conf
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
json='{"id":"'$id'","object":"chat.completion","created":1700000000,"model":"gpt-bench","choices":[{"index":0,"message":{"role":"assistant","content":"A linked list is reversed by walking it once and pointing each node back at the one before."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":250,"completion_tokens":20,"total_tokens":270}}'
cat > "$work/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;
worker_processes 1;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi;
  scgi_temp_path $work/scgi;
  keepalive_requests 1000000;
  client_max_body_size 64m;
  server {
    listen 127.0.0.1:$up;
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
  }
  upstream fake { server 127.0.0.1:$up; keepalive 256; }
  server {
    listen 127.0.0.1:$proxy;
    location / {
      proxy_pass http://fake;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
CONF
