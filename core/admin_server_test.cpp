// JSON-RPC 2.0 handling and the admin socket itself (mode 0600, stale-socket recovery).
#include "admin_server.hpp"

#include "../tools/meshctl/admin_client.hpp"
#include "event_loop.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <thread>

using mh::core::AdminServer;
using mh::core::EventLoop;
using nlohmann::json;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char templ[] = "/tmp/meshhost-admin-XXXXXX";
    path = ::mkdtemp(templ);
  }
  ~TempDir() { std::system(("rm -rf " + path).c_str()); }
};

AdminServer& with_echo(AdminServer& server) {
  server.add_method("test.echo", "test", [](const json& params) { return params; });
  server.add_method("test.fail", "test", [](const json&) -> json { throw mh::core::AdminError{-32000, "it failed"}; });
  return server;
}

}  // namespace

TEST_CASE("requests, errors, notifications and batches follow JSON-RPC 2.0") {
  EventLoop loop;
  AdminServer server(loop);
  with_echo(server);
  auto call = [&](const std::string& line) { return json::parse(server.handle_line(line)); };

  auto ok = call(R"({"jsonrpc":"2.0","id":1,"method":"test.echo","params":{"a":1}})");
  CHECK(ok["id"] == 1);
  CHECK(ok["result"] == json{{"a", 1}});
  CHECK(call("{nope")["error"]["code"] == -32700);
  CHECK(call(R"({"id":2,"method":"test.echo"})")["error"]["code"] == -32600);
  CHECK(call(R"({"jsonrpc":"2.0","id":3,"method":"no.such"})")["error"]["code"] == -32601);
  CHECK(call(R"({"jsonrpc":"2.0","id":4,"method":"test.echo","params":7})")["error"]["code"] == -32602);
  auto failed = call(R"({"jsonrpc":"2.0","id":5,"method":"test.fail"})");
  CHECK(failed["error"]["message"] == "it failed");
  CHECK(server.handle_line(R"({"jsonrpc":"2.0","method":"test.echo"})").empty());  // notification
  auto batch = call(R"([{"jsonrpc":"2.0","id":6,"method":"test.echo","params":[1]},{"jsonrpc":"2.0","method":"test.echo"}])");
  REQUIRE(batch.is_array());
  CHECK(batch.size() == 1);
  CHECK(batch[0]["result"] == json::array({1}));
}

TEST_CASE("hostile requests get errors, never a crash") {
  EventLoop loop;
  AdminServer server(loop);
  with_echo(server);
  auto call = [&](const std::string& line) { return json::parse(server.handle_line(line)); };
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK(call(R"({"jsonrpc":"2.0","id":1,"method":"test.echo","params":)" + deep + "}")["error"]["code"] == -32600);
  CHECK(call(std::string(200000, '{'))["error"]["code"] == -32600);
  CHECK(call(R"({"jsonrpc":2,"id":1,"method":"test.echo"})")["error"]["code"] == -32600);
  CHECK(call("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xff\xfe")["error"]["code"] == -32700);
  // Brackets inside strings do not count as nesting.
  auto ok = call(R"({"jsonrpc":"2.0","id":1,"method":"test.echo","params":{"s":")" + std::string(1000, '[') + R"("}})");
  CHECK(ok["result"]["s"].get<std::string>().size() == 1000);
}

TEST_CASE("a plugin's methods go when it does") {
  EventLoop loop;
  AdminServer server(loop);
  server.add_method("a.x", "a", [](const json&) { return json(1); });
  CHECK_FALSE(server.add_method("a.x", "b", [](const json&) { return json(2); }));
  server.remove_owner("a");
  CHECK(server.method_names().empty());
}

TEST_CASE("the socket is mode 0600, answers clients, and replaces a stale socket") {
  TempDir dir;
  const std::string path = dir.path + "/run/admin.sock";

  // A socket file left by a crashed process: bound, then closed without unlinking.
  ::mkdir((dir.path + "/run").c_str(), 0755);
  int stale = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strcpy(address.sun_path, path.c_str());
  REQUIRE(::bind(stale, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  ::close(stale);

  EventLoop loop;
  AdminServer server(loop);
  with_echo(server);
  server.listen(path);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  // A second server on the same path must refuse: the first one is live.
  AdminServer second(loop);
  CHECK_THROWS_WITH(second.listen(path), doctest::Contains("another process already answers"));

  json result;
  std::string failure, last_reply;
  std::thread client([&] {
    try {
      mh::meshctl::AdminClient c(path);
      result = c.call("test.echo", json{{"hello", "world"}});
      // A client that sends its last request without a newline and shuts its side
      // still gets the answer.
      int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un to{};
      to.sun_family = AF_UNIX;
      std::strcpy(to.sun_path, path.c_str());
      if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0) {
        const std::string request = R"({"jsonrpc":"2.0","id":9,"method":"test.echo","params":[9]})";
        (void)!::write(fd, request.data(), request.size());
        ::shutdown(fd, SHUT_WR);
        char buffer[512];
        ssize_t n;
        while ((n = ::read(fd, buffer, sizeof buffer)) > 0) last_reply.append(buffer, static_cast<std::size_t>(n));
      }
      ::close(fd);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    loop.stop();
  });
  loop.run();
  client.join();
  CHECK(failure.empty());
  CHECK(result == json{{"hello", "world"}});
  REQUIRE_FALSE(last_reply.empty());
  CHECK(json::parse(last_reply)["result"] == json::array({9}));
  server.close();
  CHECK(::access(path.c_str(), F_OK) != 0);
}
