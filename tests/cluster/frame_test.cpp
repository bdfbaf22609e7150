// The framing of protocol lines as NATS messages, sequence checks, subjects,
// and announcements as they come off the network.
#include "cluster/frame.h"

#include <gtest/gtest.h>

#include "cluster/directory.h"

namespace mlxs::cluster {
namespace {

TEST(Frame, RoundTripsLinesAndEnd) {
  const std::string line = R"({"jsonrpc":"2.0","method":"stream.step","params":{"x":"a b"}})";
  const std::string wire = encode_line(7, line);
  EXPECT_EQ(wire, "7 " + line);
  auto f = decode_frame(wire, 1 << 20);
  ASSERT_TRUE(f.is_ok()) << f.status().to_string();
  EXPECT_EQ(f->seq, 7u);
  EXPECT_FALSE(f->end);
  EXPECT_EQ(f->line, line);
  auto e = decode_frame(encode_end(8), 1 << 20);
  ASSERT_TRUE(e.is_ok());
  EXPECT_TRUE(e->end);
  EXPECT_EQ(e->seq, 8u);
}

TEST(Frame, RefusesMalformedFrames) {
  for (const char* bad : {"", " x", "x 1", "01 {}", "1x {}", "-1 {}", "1 ", "1 a\nb",
                          "99999999999999999999 {}", "18446744073709551616"}) {
    auto f = decode_frame(bad, 1 << 20);
    ASSERT_FALSE(f.is_ok()) << "'" << bad << "'";
    EXPECT_EQ(f.status().code(), core::ErrorCode::kTransportError);
  }
  auto big = decode_frame("1 " + std::string(11, 'a'), 10);
  ASSERT_FALSE(big.is_ok());
  EXPECT_NE(big.status().message().find("limit 10"), std::string::npos);
}

TEST(Frame, SequenceCheckFindsGapsAndRepeats) {
  SequenceCheck check;
  EXPECT_TRUE(check.accept(1).is_ok());
  EXPECT_TRUE(check.accept(2).is_ok());
  auto gap = check.accept(4);
  ASSERT_FALSE(gap.is_ok());
  EXPECT_EQ(gap.code(), core::ErrorCode::kTransportError);
  EXPECT_NE(gap.message().find("#4 after #2"), std::string::npos);
  EXPECT_FALSE(check.accept(2).is_ok());
  EXPECT_TRUE(check.accept(3).is_ok());
}

TEST(Frame, Subjects) {
  EXPECT_EQ(announce_subject("lab"), "mlxs.lab.announce");
  EXPECT_EQ(attach_subject("lab", "w1"), "mlxs.lab.w.w1.attach");
  EXPECT_EQ(session_subject("lab", "w1", "s9", "in"), "mlxs.lab.w.w1.s.s9.in");
}

TEST(Announcement, RoundTrips) {
  Announcement a;
  a.id = "w-1";
  a.models = {{"tiny", "/m/tiny"}};
  a.sessions = 1;
  a.max_sessions = 4;
  a.max_streams = 32;
  a.interval_ms = 100;
  auto d = decode_announcement(encode_announcement(a));
  ASSERT_TRUE(d.is_ok()) << d.status().to_string();
  EXPECT_EQ(d->id, "w-1");
  ASSERT_EQ(d->models.size(), 1u);
  EXPECT_EQ(d->models[0].path, "/m/tiny");
  EXPECT_EQ(d->max_streams, 32);
  EXPECT_FALSE(d->streams) << "no load announced: unknown, not zero";
  a.streams = 7;
  a.streams_by_control = {{"cp-1", 4}, {"cp-2", 3}};
  auto loaded = decode_announcement(encode_announcement(a));
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->streams, 7);
  EXPECT_EQ(loaded->streams_by_control, a.streams_by_control);
}

TEST(Announcement, RefusesHostileAnnouncements) {
  const std::string ok_tail = R"("sessions":0,"max_sessions":1,"max_streams":1,"interval_ms":0)";
  for (
      const std::string& bad : {
          std::string("not json"),
          std::string("[1]"),
          std::string(R"({"v":2,"id":"w","models":[],)") + ok_tail + "}",
          std::string(R"({"v":1,"id":"w.>","models":[],)") + ok_tail + "}",
          std::string(R"({"v":1,"id":"w","models":{},)") + ok_tail + "}",
          std::string(R"({"v":1,"id":"w","models":[{"id":""}],)") + ok_tail + "}",
          std::string(
              R"({"v":1,"id":"w","models":[],"sessions":-1,"max_sessions":1,"max_streams":1,"interval_ms":0})"),
          std::string(
              R"({"v":1,"id":"w","models":[],"sessions":0,"max_sessions":1,"max_streams":1e9,"interval_ms":0})"),
          std::string(
              R"({"v":1,"id":"w","models":[],"sessions":0,"max_sessions":1,"max_streams":18446744073709551615,"interval_ms":0})"),
          std::string(R"({"v":1,"id":"w","models":[]})"),
          // Load: a count out of range, a share above the total, a name
          // that is no subject token, a missing or mistyped share map.
          std::string(R"({"v":1,"id":"w","models":[],)") + ok_tail +
              R"(,"streams":-1,"streams_by_control":{}})",
          std::string(R"({"v":1,"id":"w","models":[],)") + ok_tail +
              R"(,"streams":2,"streams_by_control":{"cp":3}})",
          std::string(R"({"v":1,"id":"w","models":[],)") + ok_tail +
              R"(,"streams":2,"streams_by_control":{"c.>":1}})",
          std::string(R"({"v":1,"id":"w","models":[],)") + ok_tail + R"(,"streams":2})",
          std::string(R"({"v":1,"id":"w","models":[],)") + ok_tail +
              R"(,"streams":2,"streams_by_control":{"cp":"1"}})",
          std::string(R"({"v":1,"id":"w","models":[],)") + ok_tail +
              R"(,"streams":1e9,"streams_by_control":{}})",
          std::string(70000, ' '),
      }) {
    auto d = decode_announcement(bad);
    ASSERT_FALSE(d.is_ok()) << bad.substr(0, 120);
    EXPECT_EQ(d.status().code(), core::ErrorCode::kTransportError);
  }
}

}  // namespace
}  // namespace mlxs::cluster
