// Watches one connection's raw request bytes and says, as early as the bytes
// allow, when a request is too large: its head exceeds max_head, its
// Content-Length exceeds max_body (known when the head ends, before any body
// byte), or the chunk sizes of a chunked body add up past max_body (known at
// the chunk-size line, before that chunk's data).
//
// It only frames messages (request line, headers, Content-Length or chunked
// body, one request after another on a keep-alive connection); it validates
// nothing else: Pistache's parser still parses every byte that is let through.
// Pure and allocation-free except for a header line split across two reads,
// so the server can run it on every read: inside a body a read costs a few
// comparisons.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace llmux::host {

class RequestLimit {
 public:
  enum class Verdict { Pass, TooLarge, HeadTooLarge };

  static constexpr std::size_t kDefaultMaxHead = 64u << 10;

  explicit RequestLimit(std::uint64_t max_body, std::size_t max_head = kDefaultMaxHead)
      : max_body_(max_body), max_head_(max_head) {}

  // The connection's next bytes. Pass: all of them may go on. Any other verdict
  // is final for the connection (later calls return it again, reading nothing).
  Verdict feed(std::string_view bytes);
  Verdict verdict() const { return verdict_; }

  // After a verdict other than Pass:
  // - how many leading bytes of the last piece fed belong to earlier requests
  //   (0 when the refused request began in an earlier piece);
  std::size_t accepted() const { return accepted_; }
  // - the refused request's body size: its Content-Length, or for a chunked
  //   body the chunk sizes announced so far (at least max_body + 1);
  std::uint64_t body_bytes() const { return body_bytes_; }
  bool chunked() const { return chunked_; }
  // - what its head showed before the verdict (empty when not seen): the
  //   request target (clipped), the client's x-request-id (only when short and
  //   plain enough to echo in a header), whether anthropic-version was sent.
  std::string_view target() const { return target_.view(); }
  std::string_view request_id() const { return request_id_.view(); }
  bool anthropic_version() const { return anthropic_version_; }

  // With Pass: how many bytes at the end of the last piece should reach the
  // parser only with the next piece. 1 when the piece ended one byte into the
  // CRLF closing a chunk's data: Pistache's chunk parser misreads that split
  // (it counts the '\r' as data, then advances by a negative size and spins).
  std::size_t hold_back() const { return hold_back_; }

  std::uint64_t max_body() const { return max_body_; }
  std::size_t max_head() const { return max_head_; }

 private:
  enum class State { Head, Body, ChunkSize, ChunkExtension, ChunkData, ChunkDataEnd, Trailers };

  // A short string kept inline: the head facts cost no allocation per request.
  template <std::size_t N>
  struct Clip {
    std::array<char, N> data{};
    std::size_t size = 0;
    void assign(std::string_view s) {
      size = s.size() < N ? s.size() : N;
      s.copy(data.data(), size);
    }
    void clear() { size = 0; }
    std::string_view view() const { return {data.data(), size}; }
  };

  std::size_t feed_head(std::string_view bytes, std::size_t pos);
  std::size_t feed_chunk_line(std::string_view bytes, std::size_t pos);
  std::size_t feed_trailers(std::string_view bytes, std::size_t pos);
  void head_line(std::string_view line);
  void end_head(std::size_t pos);
  void header(std::string_view name, std::string_view value);
  void next_message(std::size_t pos);
  void refuse_chunk();  // the chunk being announced takes the total past max_body
  void refuse(Verdict verdict);

  const std::uint64_t max_body_;
  const std::size_t max_head_;

  Verdict verdict_ = Verdict::Pass;
  State state_ = State::Head;
  std::size_t message_start_ = 0;  // where the current request began in the piece being fed
  std::size_t accepted_ = 0;

  // Head of the current request.
  std::size_t head_bytes_ = 0;
  bool request_line_seen_ = false;
  std::string line_;  // a head line split across reads (capacity kept for the connection)
  bool has_length_ = false;
  std::uint64_t content_length_ = 0;
  bool chunked_ = false;
  bool anthropic_version_ = false;
  Clip<128> target_;
  Clip<128> request_id_;

  // Body of the current request.
  std::uint64_t remaining_ = 0;     // Body, ChunkData
  std::uint64_t chunk_size_ = 0;    // ChunkSize: the size being read
  bool chunk_digits_ = false;       // ChunkSize: a hex digit was seen
  std::uint64_t body_bytes_ = 0;    // chunked: sizes announced so far; else Content-Length
  std::size_t trailer_line_ = 0;    // Trailers: bytes of the current trailer line
  std::size_t chunk_end_bytes_ = 0; // ChunkDataEnd: bytes read after the chunk's data
  std::size_t hold_back_ = 0;
};

}  // namespace llmux::host
