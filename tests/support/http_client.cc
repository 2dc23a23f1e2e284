#include "support/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>

#include "llmux/json.h"

namespace llmux::test {
namespace {

struct Transfer {
  HttpResponse* response;
  const RequestOptions* options;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  std::string piece(data, size * count);
  transfer->response->body += piece;
  if (transfer->options->on_data && !transfer->options->on_data(piece)) return 0;  // abort
  return size * count;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  std::string line(data, size * count);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(value.begin());
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    transfer->response->headers[name] = value;
  }
  return size * count;
}

}  // namespace

HttpClient::HttpClient() : curl_(curl_easy_init()) {}
HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

HttpResponse HttpClient::get(const std::string& url, const RequestOptions& options) {
  return request("GET", url, {}, options);
}

HttpResponse HttpClient::post(const std::string& url, const std::string& body, const RequestOptions& options) {
  return request("POST", url, body, options);
}

HttpResponse HttpClient::request(const std::string& method, const std::string& url, const std::string& body,
                                 const RequestOptions& options) {
  CURL* curl = static_cast<CURL*>(curl_);
  HttpResponse response;
  Transfer transfer{&response, &options};
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_PROXY, "");  // never a proxy for loopback tests
  if (method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  struct curl_slist* headers = nullptr;
  bool has_content_type = false;
  for (const auto& h : options.headers) {
    headers = curl_slist_append(headers, h.c_str());
    if (h.rfind("Content-Type", 0) == 0) has_content_type = true;
  }
  if (!has_content_type && method == "POST") headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) response.error = curl_easy_strerror(rc);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &response.connects);
  curl_slist_free_all(headers);
  return response;
}

std::vector<std::string> sse_data(const std::string& body) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    auto end = body.find('\n', pos);
    if (end == std::string::npos) end = body.size();
    std::string_view line(body.data() + pos, end - pos);
    if (line.rfind("data: ", 0) == 0) out.emplace_back(line.substr(6));
    pos = end + 1;
  }
  return out;
}

std::string sse_content(const std::string& body) {
  std::string text;
  for (const auto& data : sse_data(body)) {
    rapidjson::Document doc;
    doc.Parse(data.c_str(), data.size());
    if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("choices") || !doc["choices"].IsArray() ||
        doc["choices"].Empty()) {
      continue;
    }
    const auto& delta = doc["choices"][0]["delta"];
    if (delta.IsObject() && delta.HasMember("content") && delta["content"].IsString()) {
      text += delta["content"].GetString();
    }
  }
  return text;
}

}  // namespace llmux::test
