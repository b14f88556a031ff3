// The own-seqno reservation: a restart always starts past every seqno sent before.
#include "seqno_store.hpp"

#include "messages.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "router-seqno-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST_CASE("seqno store: a restart starts past the reservation, which moves ahead as the seqno rises") {
  TempDir dir;
  mh::router::SeqnoStore store(dir.path.string());
  std::string error;
  const std::uint16_t first = store.start(&error);
  CHECK(error.empty());
  REQUIRE(store.read().has_value());
  CHECK(*store.read() == static_cast<std::uint16_t>(first + mh::router::kSeqnoReserve));
  CHECK_FALSE(std::filesystem::exists(dir.path / "seqno.tmp"));

  // Raises within the reservation write nothing; past it, a new reservation first.
  CHECK(store.note(static_cast<std::uint16_t>(first + 10), &error));
  CHECK(*store.read() == static_cast<std::uint16_t>(first + mh::router::kSeqnoReserve));
  const std::uint16_t raised = static_cast<std::uint16_t>(first + 1000);
  CHECK(store.note(raised, &error));
  CHECK(*store.read() == static_cast<std::uint16_t>(raised + mh::router::kSeqnoReserve));

  // "kill -9" now: the next start is newer than anything sent.
  mh::router::SeqnoStore again(dir.path.string());
  const std::uint16_t restarted = again.start(&error);
  CHECK(mh::router::seqno_newer(restarted, raised));
}

TEST_CASE("seqno store: a missing or corrupt file starts anywhere, and a new reservation is written") {
  TempDir dir;
  {
    std::ofstream(dir.path / "seqno") << "not a number\n";
  }
  mh::router::SeqnoStore store(dir.path.string());
  CHECK_FALSE(store.read().has_value());
  std::string error;
  const std::uint16_t seqno = store.start(&error);
  REQUIRE(store.read().has_value());
  CHECK(*store.read() == static_cast<std::uint16_t>(seqno + mh::router::kSeqnoReserve));
}

TEST_CASE("seqno store: an unwritable directory is reported, not fatal") {
  mh::router::SeqnoStore store("/nonexistent/router-state");
  std::string error;
  (void)store.start(&error);
  CHECK(error.find("/nonexistent/router-state/seqno.tmp") != std::string::npos);
}
