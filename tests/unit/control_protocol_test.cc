// The control directory's file formats (control_protocol.h); the fuzzer
// (tests/fuzz/control_fuzz.cc) checks the same round trip on any bytes.
#include "src/trigger/control_protocol.h"

#include <gtest/gtest.h>

#include <string>

namespace memtrace::control {
namespace {

TEST(ControlProtocolTest, RequestRoundTrips) {
  absl::StatusOr<std::string> bytes = EncodeRequest(DumpRequest{"123-4.5", "/tmp/a b.json,/tmp/c.txt"});
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, "memtrace-dump 1 123-4.5\n/tmp/a b.json,/tmp/c.txt");
  absl::StatusOr<DumpRequest> back = ParseRequest(*bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->token, "123-4.5");
  EXPECT_EQ(back->output, "/tmp/a b.json,/tmp/c.txt");
  back = ParseRequest("memtrace-dump 1 7\n");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->output, "");  // the configured outputs
}

TEST(ControlProtocolTest, LeakCheckOption) {
  absl::StatusOr<std::string> bytes = EncodeRequest(DumpRequest{"9", "/tmp/r.json", /*leaks=*/true});
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, "memtrace-dump 1 9 leaks\n/tmp/r.json");
  absl::StatusOr<DumpRequest> back = ParseRequest(*bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->leaks);
  EXPECT_EQ(back->token, "9");
  EXPECT_FALSE(ParseRequest("memtrace-dump 1 9\n").value().leaks);
  EXPECT_FALSE(ParseRequest("memtrace-dump 1 9 leak\n").ok());       // unknown option
  EXPECT_FALSE(ParseRequest("memtrace-dump 1 9 leaks x\n").ok());
  EXPECT_FALSE(ParseRequest("memtrace-dump 1 9 \n/x").ok());         // a space needs an option: one canonical form
  EXPECT_FALSE(ParseAck("memtrace-ack 1 9 leaks\n/x").ok());         // acks carry no option
}

TEST(ControlProtocolTest, RefusesWhatTheWatcherMustNotUse) {
  EXPECT_FALSE(ParseRequest("/etc/passwd\n").ok());                             // no header
  EXPECT_FALSE(ParseRequest("memtrace-dump 1 7\nrelative.json").ok());           // the watcher's cwd is not yours
  EXPECT_FALSE(ParseRequest(std::string("memtrace-dump 1 7\n/a\0b", 21)).ok());  // a NUL would cut the path
  EXPECT_FALSE(ParseRequest("memtrace-dump 1 a/b\n/x").ok());                    // tokens name files: no '/'
  EXPECT_FALSE(ParseRequest("memtrace-dump 1 -\n/x").ok());                      // "-" is no request's token
  EXPECT_FALSE(ParseRequest("memtrace-dump 1 7").ok());                          // no end of line
  EXPECT_FALSE(ParseRequest("memtrace-dump 1 7\n/" + std::string(kMaxPayloadBytes, 'x')).ok());
  EXPECT_FALSE(ParseRequest("memtrace-dump 2 7\n/x").ok());                      // another version
  EXPECT_FALSE(EncodeRequest(DumpRequest{"7", "relative"}).ok());
  EXPECT_FALSE(EncodeRequest(DumpRequest{std::string(kMaxTokenBytes + 1, '1'), "/x"}).ok());
  EXPECT_FALSE(ValidToken(""));
  EXPECT_FALSE(ValidToken("a b"));
  EXPECT_TRUE(ValidToken(".."));  // harmless: a token is only ever the tail of "<pid>.ack.<token>"
}

TEST(ControlProtocolTest, AcksCarryTheTokenOrNone) {
  absl::StatusOr<std::string> bytes = EncodeAck(Ack{kNoToken, "stderr"});
  ASSERT_TRUE(bytes.ok());
  absl::StatusOr<Ack> back = ParseAck(*bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->token, "-");
  EXPECT_EQ(back->where, "stderr");
  bytes = EncodeAck(Ack{"9-1.2", std::string("/odd\0name\n", 10)});
  ASSERT_TRUE(bytes.ok());
  back = ParseAck(*bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->where, "/odd?name\n");  // no NUL survives
  EXPECT_EQ(ParseAck(*EncodeAck(Ack{"1", std::string(kMaxPayloadBytes * 2, 'w')}))->where.size(), kMaxPayloadBytes);
}

}  // namespace
}  // namespace memtrace::control
