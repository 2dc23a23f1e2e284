// RequestLimit on its own: framing of heads, Content-Length and chunked bodies
// fed in any split, and the verdicts it gives; refusal_response's shapes.
#include "server/request_limit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/request_gate.h"

namespace llmux::host {
namespace {

using ::testing::HasSubstr;
using Verdict = RequestLimit::Verdict;

constexpr std::uint64_t kLimit = 1000;

std::string post(const std::string& path, std::size_t length, const std::string& extra_headers = {}) {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\n" + extra_headers + "Content-Length: " + std::to_string(length) +
         "\r\n\r\n";
}

std::string chunked_head(const std::string& path = "/v1/chat/completions", const std::string& extra_headers = {}) {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\n" + extra_headers + "Transfer-Encoding: chunked\r\n\r\n";
}

std::string chunk(std::size_t size) {
  char line[32];
  std::snprintf(line, sizeof line, "%zx\r\n", size);
  return line + std::string(size, 'a') + "\r\n";
}

// Feeds `bytes` in pieces of `step` bytes; the verdict after the last piece fed.
Verdict feed_in_steps(RequestLimit& limit, const std::string& bytes, std::size_t step) {
  Verdict verdict = Verdict::Pass;
  for (std::size_t i = 0; i < bytes.size() && verdict == Verdict::Pass; i += step) {
    verdict = limit.feed(std::string_view(bytes).substr(i, step));
  }
  return verdict;
}

TEST(RequestLimit, BodyAtTheLimitPassesAndTheNextRequestIsFramed) {
  for (std::size_t step : {1u, 3u, 7u, 64u, 100000u}) {
    RequestLimit limit(kLimit);
    std::string bytes = post("/v1/chat/completions", kLimit) + std::string(kLimit, 'x') +
                        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + post("/v1/chat/completions", 10) +
                        std::string(10, 'y');
    EXPECT_EQ(feed_in_steps(limit, bytes, step), Verdict::Pass) << "step " << step;
    EXPECT_EQ(limit.hold_back(), 0u);
  }
}

TEST(RequestLimit, ContentLengthOverTheLimitIsRefusedWhenTheHeadEnds) {
  RequestLimit limit(kLimit);
  std::string head =
      post("/v1/messages?beta=true", kLimit + 1, "anthropic-version: 2023-06-01\r\nX-Request-Id: abc-123\r\n");
  // Not before the head is complete: later headers still shape the answer.
  EXPECT_EQ(limit.feed(std::string_view(head).substr(0, head.size() - 1)), Verdict::Pass);
  EXPECT_EQ(limit.feed(std::string_view(head).substr(head.size() - 1)), Verdict::TooLarge);
  EXPECT_EQ(limit.body_bytes(), kLimit + 1);
  EXPECT_FALSE(limit.chunked());
  EXPECT_EQ(limit.target(), "/v1/messages?beta=true");
  EXPECT_EQ(limit.request_id(), "abc-123");
  EXPECT_TRUE(limit.anthropic_version());
  EXPECT_EQ(limit.accepted(), 0u);
  // Final: later bytes are not looked at.
  EXPECT_EQ(limit.feed("GET / HTTP/1.1\r\n\r\n"), Verdict::TooLarge);
}

TEST(RequestLimit, ContentLengthOfTwentyDigitsSaturates) {
  RequestLimit limit(kLimit);
  EXPECT_EQ(limit.feed("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"), Verdict::TooLarge);
  EXPECT_EQ(limit.body_bytes(), UINT64_MAX);
}

TEST(RequestLimit, HeaderNamesAreCaseInsensitiveAndValuesTrimmed) {
  RequestLimit limit(kLimit);
  EXPECT_EQ(limit.feed("POST / HTTP/1.1\r\ncOnTeNt-LeNgTh: \t 2000 \r\n\r\n"), Verdict::TooLarge);
  EXPECT_EQ(limit.body_bytes(), 2000u);
}

TEST(RequestLimit, ChunkedTotalOverTheLimitIsRefusedAtTheChunkSizeLine) {
  for (std::size_t step : {1u, 5u, 4096u}) {
    RequestLimit limit(kLimit);
    std::string bytes = chunked_head();
    for (int i = 0; i < 4; ++i) bytes += chunk(250);  // exactly the limit: fine
    EXPECT_EQ(feed_in_steps(limit, bytes, step), Verdict::Pass);
    // One more byte announced is too many, known before its data arrives.
    EXPECT_EQ(feed_in_steps(limit, "1\r\n", step), Verdict::TooLarge) << "step " << step;
    EXPECT_TRUE(limit.chunked());
    EXPECT_EQ(limit.body_bytes(), kLimit + 1);
  }
}

TEST(RequestLimit, HugeChunkSizeIsRefusedBeforeTheLineEnds) {
  RequestLimit limit(kLimit);
  ASSERT_EQ(limit.feed(chunked_head()), Verdict::Pass);
  EXPECT_EQ(limit.feed("fffffffffffffffffffff"), Verdict::TooLarge);  // no CRLF yet, overflows 64 bits
  EXPECT_GT(limit.body_bytes(), kLimit);
}

TEST(RequestLimit, ChunkExtensionsTrailersAndTheNextRequest) {
  RequestLimit limit(kLimit);
  std::string bytes = chunked_head() + "  a;name=\"v\"\r\n0123456789\r\n" + "0\r\nX-Trailer: 1\r\n\r\n" +
                      post("/v1/chat/completions", kLimit + 5);
  EXPECT_EQ(feed_in_steps(limit, bytes, 2), Verdict::TooLarge);
  EXPECT_FALSE(limit.chunked());  // the second request's verdict
  EXPECT_EQ(limit.body_bytes(), kLimit + 5);
}

TEST(RequestLimit, ChunkedWinsOverContentLengthButALargeLengthIsStillRefused) {
  RequestLimit small(kLimit);
  EXPECT_EQ(small.feed(chunked_head("/", "Content-Length: 5\r\n") + chunk(600) + chunk(600)), Verdict::TooLarge);
  EXPECT_EQ(small.body_bytes(), 1200u);
  RequestLimit large(kLimit);
  EXPECT_EQ(large.feed(chunked_head("/", "Content-Length: 5000\r\n")), Verdict::TooLarge);
}

TEST(RequestLimit, PipelinedRequestsBeforeTheRefusedOneAreAccepted) {
  RequestLimit limit(kLimit);
  std::string first = post("/v1/chat/completions", 4) + "abcd";
  std::string second = "GET /healthz HTTP/1.1\r\n\r\n";
  std::string third = post("/v1/chat/completions", kLimit * 40);
  EXPECT_EQ(limit.feed(first + second + third), Verdict::TooLarge);
  EXPECT_EQ(limit.accepted(), first.size() + second.size());
  // A refused request that began in an earlier piece: nothing of this one is accepted.
  RequestLimit split(kLimit);
  EXPECT_EQ(split.feed(first + third.substr(0, 10)), Verdict::Pass);
  EXPECT_EQ(split.feed(third.substr(10)), Verdict::TooLarge);
  EXPECT_EQ(split.accepted(), 0u);
}

TEST(RequestLimit, HeadOverTheBoundIsRefusedEvenWithoutALineEnd) {
  RequestLimit limit(kLimit, 4096);
  std::string head = "GET / HTTP/1.1\r\nX-Big: " + std::string(4000, 'b') + "\r\n";
  EXPECT_EQ(limit.feed(head), Verdict::Pass);
  EXPECT_EQ(limit.feed(std::string(200, 'c')), Verdict::HeadTooLarge);  // one endless line
  RequestLimit many(kLimit, 4096);
  std::string lines = "GET / HTTP/1.1\r\n";
  while (lines.size() < 5000) lines += "X-A: 1\r\n";
  EXPECT_EQ(feed_in_steps(many, lines, 100), Verdict::HeadTooLarge);
}

TEST(RequestLimit, TheHeadBoundIsPerRequest) {
  RequestLimit limit(kLimit, 4096);
  std::string request = "GET / HTTP/1.1\r\nX-Big: " + std::string(3000, 'b') + "\r\n\r\n";
  EXPECT_EQ(limit.feed(request + request + request), Verdict::Pass);
}

TEST(RequestLimit, UnsafeRequestIdsAreNotKept) {
  RequestLimit spaced(kLimit);
  spaced.feed(post("/", 5000, "x-request-id: a b\r\n"));
  EXPECT_EQ(spaced.request_id(), "");
  RequestLimit long_id(kLimit);
  long_id.feed(post("/", 5000, "x-request-id: " + std::string(129, 'i') + "\r\n"));
  EXPECT_EQ(long_id.request_id(), "");
}

TEST(RequestLimit, ACarriageReturnEndingAReadAfterChunkDataIsHeldBack) {
  RequestLimit limit(kLimit);
  ASSERT_EQ(limit.feed(chunked_head() + "5\r\nhello"), Verdict::Pass);
  EXPECT_EQ(limit.hold_back(), 0u);  // ends with the data: Pistache copes
  EXPECT_EQ(limit.feed("\r"), Verdict::Pass);
  EXPECT_EQ(limit.hold_back(), 1u);  // ends inside the CRLF: hold the '\r'
  EXPECT_EQ(limit.feed("\n0\r\n\r\n"), Verdict::Pass);
  EXPECT_EQ(limit.hold_back(), 0u);
  RequestLimit one_piece(kLimit);
  EXPECT_EQ(one_piece.feed(chunked_head() + "5\r\nhello\r"), Verdict::Pass);
  EXPECT_EQ(one_piece.hold_back(), 1u);
}

TEST(RefusalResponse, OpenAIShapeWithTheClientsRequestId) {
  RequestLimit limit(kLimit);
  ASSERT_EQ(limit.feed(post("/v1/chat/completions", 41943040, "x-request-id: client-7\r\nanthropic-version: 1\r\n")),
            Verdict::TooLarge);
  std::string response = refusal_response(limit);
  EXPECT_THAT(response, ::testing::StartsWith("HTTP/1.1 413 "));
  EXPECT_THAT(response, HasSubstr("\r\nConnection: close\r\n"));
  EXPECT_THAT(response, HasSubstr("\r\nx-request-id: client-7\r\n"));
  EXPECT_THAT(response, HasSubstr(R"({"error":{"message":"Request body is 41943040 bytes; the limit is 1000 bytes)"));
  EXPECT_THAT(response, HasSubstr(R"("type":"invalid_request_error","param":null,"code":"request_too_large"}})"));
}

TEST(RefusalResponse, AnthropicShapeForMessagesPathsAndAnthropicClientsOnOtherPaths) {
  for (std::string path : {"/v1/messages", "/v1/messages/count_tokens?beta=true"}) {
    RequestLimit limit(kLimit);
    ASSERT_EQ(limit.feed(post(path, 5000)), Verdict::TooLarge);
    std::string response = refusal_response(limit);
    EXPECT_THAT(response, HasSubstr(R"({"type":"error","error":{"type":"request_too_large","message":")")) << path;
    EXPECT_THAT(response, ::testing::ContainsRegex("\r\nx-request-id: [0-9a-f]{32}\r\n"));
  }
  RequestLimit unknown(kLimit);
  ASSERT_EQ(unknown.feed(post("/v1/other", 5000, "anthropic-version: 2023-06-01\r\n")), Verdict::TooLarge);
  EXPECT_THAT(refusal_response(unknown), HasSubstr(R"({"type":"error")"));
}

TEST(RefusalResponse, HeadTooLargeIs431) {
  RequestLimit limit(kLimit, 100);
  ASSERT_EQ(limit.feed("POST /v1/messages HTTP/1.1\r\nX: " + std::string(200, 'x')), Verdict::HeadTooLarge);
  std::string response = refusal_response(limit);
  EXPECT_THAT(response, ::testing::StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  EXPECT_THAT(response, HasSubstr(R"("type":"request_too_large")"));
}

}  // namespace
}  // namespace llmux::host
