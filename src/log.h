// The one internal logger. Every line starts with "memtrace: " and is written
// with write(2) from a stack buffer, so it is safe from hooks, signal handlers
// and fork children: it never allocates and never takes a lock.
#pragma once

#include <cstdarg>

namespace memtrace {

enum class LogLevel : int { kQuiet = 0, kError = 1, kWarn = 2, kInfo = 3, kDebug = 4 };

// Set once from MEMTRACE_LOG by the configuration; default kWarn.
void SetLogLevel(LogLevel level) noexcept;
LogLevel GetLogLevel() noexcept;

// printf-style, truncated to one 512-byte line; a newline is appended.
void Log(LogLevel level, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));

}  // namespace memtrace

#define MT_LOG_ERROR(...) ::memtrace::Log(::memtrace::LogLevel::kError, __VA_ARGS__)
#define MT_LOG_WARN(...) ::memtrace::Log(::memtrace::LogLevel::kWarn, __VA_ARGS__)
#define MT_LOG_INFO(...) ::memtrace::Log(::memtrace::LogLevel::kInfo, __VA_ARGS__)
#define MT_LOG_DEBUG(...) ::memtrace::Log(::memtrace::LogLevel::kDebug, __VA_ARGS__)
