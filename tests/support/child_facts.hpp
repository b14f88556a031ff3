// Test code only, header-only: a root test's body run in a forked child (so whatever it
// unshares or changes dies with it), its "key value" report brought back over a pipe and
// parsed for the parent's checks, and the skip (exit 77, CTest's SKIP_RETURN_CODE) line.
#pragma once

#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

namespace mh::testing_support {

// What the child reported: its exit status, its report as written, and each line of it
// split at the first space into facts[key] = value (value "" for a line without a space;
// a key written twice keeps its last value).
struct ChildReport {
  int exit_code = 0;
  std::string text;
  std::map<std::string, std::string> facts;
};

// Forks and runs `body` in the child, which exits with what `body` returns (1 and an
// "exception" line if it throws); `body` writes its report to the stream it is given. The
// parent blocks until the child has exited. A failed pipe, fork or wait, or a child that
// does not exit normally (killed by a signal), fails the calling test case (REQUIRE).
inline ChildReport run_in_child(const std::function<int(std::ostream&)>& body) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  // Whatever is still buffered would otherwise be written twice, once by each process.
  std::cout.flush();
  std::fflush(stdout);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(fds[0]);
    std::ostringstream out;
    int code = 1;
    try {
      code = body(out);
    } catch (...) {
      out << "exception\n";
    }
    const std::string text = out.str();
    for (std::size_t sent = 0; sent < text.size();) {
      const ssize_t n = ::write(fds[1], text.data() + sent, text.size() - sent);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    std::_Exit(code);
  }
  ::close(fds[1]);
  ChildReport report;
  char buffer[4096];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) report.text.append(buffer, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  INFO("the child reported:\n" << report.text);
  REQUIRE(WIFEXITED(status));
  report.exit_code = WEXITSTATUS(status);
  std::istringstream lines(report.text);
  for (std::string line; std::getline(lines, line);) {
    const auto space = line.find(' ');
    report.facts[line.substr(0, space)] = space == std::string::npos ? "" : line.substr(space + 1);
  }
  return report;
}

// Ends the test run as skipped: `line` (say "<test>: SKIPPED: needs root") goes to doctest's
// output and to stderr, and the process exits 77 at once, without doctest's summary.
[[noreturn]] inline void skip_test(const std::string& line) {
  MESSAGE(line);
  std::cout.flush();
  std::cerr << line << std::endl;
  std::_Exit(77);
}

}  // namespace mh::testing_support
