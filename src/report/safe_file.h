// Every file the tracer or the memtrace command creates, writes, reads back
// or deletes goes through here. A tracer writes on behalf of whoever runs the
// traced program -- often root, often in shared directories such as /tmp --
// so no name in a shared place may redirect it (docs/security.md).
//
// The rules, each enforced on a descriptor, never on a name checked earlier:
//  - A directory is reached component by component from "/" (or from the
//    working directory for a relative path) with openat(O_PATH|O_NOFOLLOW),
//    and each one, once open, must belong to the caller (effective uid) or to
//    root (in a user namespace, also to the overflow uid that stands for
//    unmapped owners such as the host's root), and must not be writable by
//    others unless sticky (as /tmp is).
//    A symbolic link on the way is followed only if it belongs to the caller
//    or root: a link planted by another user is never followed.
//  - Names are created, replaced and removed only relative to a directory
//    descriptor so verified (openat, mkdirat, renameat, unlinkat).
//  - A file is written whole to a new private temporary (O_CREAT|O_EXCL|
//    O_NOFOLLOW, 0600) and renamed over its name, so nothing is ever written
//    through an existing name; an existing name that is a symbolic link, not
//    a regular file, or another user's file is refused, not replaced.
//  - A file is read back only if, once open (O_NOFOLLOW), it is a regular
//    file of the caller's.
//  - A private directory (the control directory) is made with mkdirat 0700
//    and accepted only if, once open, it is a directory of the caller's that
//    no one else can enter.
//  - A file is deleted only if it is still the very file (device, inode) the
//    caller wrote: report rotation never removes what another process wrote.
//
// Errors are one line naming the path as given (callers escape it before it
// reaches a terminal).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace memtrace::safe_file {

// Which file a name pointed to when we wrote it.
struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const FileId&) const = default;
};

// An open, verified directory. Move-only.
class Dir {
 public:
  Dir() = default;
  Dir(Dir&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) { other.fd_ = -1; }
  Dir& operator=(Dir&& other) noexcept;
  Dir(const Dir&) = delete;
  Dir& operator=(const Dir&) = delete;
  ~Dir();

  // The directory `path` ("" or "." is the working directory), every
  // component checked as above.
  static absl::StatusOr<Dir> Open(const std::string& path);
  // A private directory: `path`'s parent is opened as above, the last
  // component is created 0700 when `create` and missing, and it is accepted
  // only if it is a directory (not a link) owned by the caller with no
  // access for group or others.
  static absl::StatusOr<Dir> OpenPrivate(const std::string& path, bool create);

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  // Writes `content` as `name` (a single component) in this directory,
  // through a temporary renamed into place. Returns the file written.
  absl::StatusOr<FileId> Replace(const std::string& name, std::string_view content) const;
  // The content of `name`, a regular file of the caller's, at most
  // `max_bytes` (a larger file is an error); `id`, if given, receives which
  // file it was.
  absl::StatusOr<std::string> Read(const std::string& name, size_t max_bytes, FileId* id = nullptr) const;
  // Removes `name` if it is a regular file of the caller's (and, with `id`,
  // still that file). NotFound if it is not there.
  absl::Status Remove(const std::string& name) const;
  absl::Status RemoveIfSame(const std::string& name, FileId id) const;
  // Removes the empty directory `name` if it is the caller's.
  absl::Status RemoveDir(const std::string& name) const;

 private:
  Dir(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  std::string Join(const std::string& name) const;
  int fd_ = -1;
  std::string path_;
};

// `path` split into its directory and last component ("r.json" -> ".", "r.json").
void SplitPath(const std::string& path, std::string* dir, std::string* name);

// Whole-path forms of the above.
absl::StatusOr<FileId> WriteFile(const std::string& path, std::string_view content);
absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes);
absl::Status RemoveFile(const std::string& path);
absl::Status RemoveFileIfSame(const std::string& path, FileId id);

}  // namespace memtrace::safe_file
