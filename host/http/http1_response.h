// An incremental parser of one HTTP/1.x response (RFC 9112), for the host's
// own upstream client (http1_client.h). It is fed whatever the socket read,
// in pieces of any size, and hands the body on as slices of those pieces
// (chunked framing removed), so a response body is never copied by the
// parser: the caller reads into one buffer per loop.
//
// Framing, in RFC 9112 section 6.3's order: a response to HEAD, 1xx, 204 and
// 304 have no body; `Transfer-Encoding` ending in chunked is chunked (a
// Content-Length next to it is ignored, and the connection is not reused);
// else `Content-Length` (differing values are an error); else the body runs
// until the connection closes (finish()). Interim 1xx heads (100 Continue,
// 103 Early Hints) are skipped; 101 is an error (the client never asks to
// upgrade). Lines may end in CRLF or a bare LF. Header names keep their case;
// names and values are trimmed of spaces and tabs, as the libcurl path does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "llmux/http.h"

namespace llmux::host {

class Http1ResponseParser {
 public:
  // Receives the response as it is parsed. Returning false from either call
  // stops feed() at once (Status::Stopped) with `used` just past what was
  // handed over, so the caller can keep the rest and feed it again later
  // (a paused transfer does that).
  class Sink {
   public:
    virtual ~Sink() = default;
    // The final head. `headers` may be moved from.
    virtual bool on_head(int status, HttpHeaders& headers) = 0;
    // A piece of the (de-chunked) body; never empty.
    virtual bool on_body(std::string_view bytes) = 0;
  };

  enum class Status {
    NeedMore,  // everything given was consumed; the response is not complete
    Complete,  // the response ended; `used` may be short of the input (bytes after it)
    Stopped,   // the sink returned false; `used` says how far it got
    Error,     // malformed or over a limit; error() says why
  };

  // A head (status line and header lines) larger than this is an error.
  static constexpr std::size_t kMaxHeadBytes = 64 * 1024;

  // Starts a new response. `head_request`: the request was HEAD (no body).
  void reset(bool head_request = false);

  // Consumes from `bytes`; `used` is set to how many bytes were consumed.
  // After Complete or Error, further calls return the same status and use nothing.
  Status feed(std::string_view bytes, std::size_t& used, Sink& sink);

  // The connection ended. Complete when the body runs until close and the
  // head is in; Error otherwise (a truncated response), unless it had
  // already completed.
  Status finish();

  // After Complete: the connection may carry the next request (HTTP/1.1
  // without `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`;
  // never after a body that ran until close or a chunked body that also
  // had a Content-Length).
  bool keep_alive() const { return keep_alive_; }
  bool head_done() const { return head_done_; }
  // Some response byte has been consumed (a failure before it may be retried
  // on a fresh connection).
  bool started() const { return started_; }
  int status() const { return status_; }
  const std::string& error() const { return error_; }

 private:
  enum class Stage { Head, Body, ChunkSize, ChunkData, ChunkDataEnd, Trailers, UntilClose, Done, Failed };

  Status fail(std::string why);
  // Parses the buffered head (ends with the empty line). False on a malformed head.
  bool parse_head(std::string_view head, Sink& sink, bool& stopped);

  bool head_request_ = false;
  Stage stage_ = Stage::Head;
  std::string head_;       // the head's bytes until its empty line; also a chunk-size or trailer line in progress
  std::uint64_t remaining_ = 0;  // Content-Length body or current chunk bytes left
  int status_ = 0;
  bool head_done_ = false;
  bool started_ = false;
  bool keep_alive_ = false;
  std::string error_;
  HttpHeaders headers_;
};

}  // namespace llmux::host
