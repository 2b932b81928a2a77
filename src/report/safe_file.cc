// Files written, read and removed without following another user's names
// (see safe_file.h).
#include "src/report/safe_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace memtrace::safe_file {
namespace {

constexpr int kMaxLinks = 40;  // as the kernel's own limit on a path

absl::Status Errno(int e, const std::string& what) { return absl::ErrnoToStatus(e, what); }

std::string OctalMode(mode_t m) {
  char buf[8];
  snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

// The owner the kernel shows for files of uids that have no mapping in a
// user namespace (a rootless container shows the host's root as this):
// trusted like root there, and only there -- on the host it is a real user
// ("nobody") that services run as.
uid_t UnmappedOwner() {
  static const uid_t owner = [] {
    auto read_small = [](const char* path, char* buf, size_t size) -> ssize_t {
      int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) return -1;
      ssize_t n = read(fd, buf, size - 1);
      close(fd);
      if (n >= 0) buf[n] = '\0';
      return n;
    };
    char buf[256];
    if (read_small("/proc/self/uid_map", buf, sizeof(buf)) <= 0) return static_cast<uid_t>(-1);
    unsigned long inside = 1, outside = 1, count = 0;
    if (sscanf(buf, "%lu %lu %lu", &inside, &outside, &count) == 3 && inside == 0 && outside == 0 &&
        count == 4294967295ul) {
      return static_cast<uid_t>(-1);  // the initial namespace: no unmapped owners
    }
    if (read_small("/proc/sys/kernel/overflowuid", buf, sizeof(buf)) <= 0) return static_cast<uid_t>(-1);
    return static_cast<uid_t>(strtoul(buf, nullptr, 10));
  }();
  return owner;
}

bool TrustedOwner(uid_t uid) {
  return uid == geteuid() || uid == 0 || (uid == UnmappedOwner() && uid != static_cast<uid_t>(-1));
}

// A directory on the way to a file we write: ours or root's, and not one
// where anyone may rename or replace entries (world-writable without the
// sticky bit).
absl::Status CheckDirectory(const struct stat& st, const std::string& shown) {
  if (!TrustedOwner(st.st_uid)) {
    return absl::PermissionDeniedError(
        absl::StrCat("directory ", shown, " belongs to uid ", st.st_uid, " (neither you nor root); not used"));
  }
  if ((st.st_mode & S_IWOTH) != 0 && (st.st_mode & S_ISVTX) == 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("directory ", shown, " is writable by everyone and not sticky (mode ", OctalMode(st.st_mode), "); not used"));
  }
  return absl::OkStatus();
}

bool ValidName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos;
}

std::string JoinShown(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir == ".") return name;
  if (dir.back() == '/') return dir + name;
  return absl::StrCat(dir, "/", name);
}

void CloseFd(int fd) {
  if (fd >= 0) close(fd);
}

}  // namespace

Dir& Dir::operator=(Dir&& other) noexcept {
  if (this != &other) {
    CloseFd(fd_);
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

Dir::~Dir() { CloseFd(fd_); }

std::string Dir::Join(const std::string& name) const { return JoinShown(path_, name); }

void SplitPath(const std::string& path, std::string* dir, std::string* name) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  size_t slash = p.rfind('/');
  if (slash == std::string::npos) {
    *dir = ".";
    *name = p;
  } else if (slash == 0) {
    *dir = "/";
    *name = p.substr(1);
  } else {
    *dir = p.substr(0, slash);
    *name = p.substr(slash + 1);
  }
}

absl::StatusOr<Dir> Dir::Open(const std::string& path) {
  const std::string shown_path = path.empty() ? "." : path;
  bool absolute = !path.empty() && path[0] == '/';
  int fd = open(absolute ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno(errno, absl::StrCat("cannot open directory ", absolute ? "/" : "."));
  std::string walked = absolute ? "/" : ".";
  auto check_open_dir = [&](int dfd) -> absl::Status {
    struct stat st{};
    if (fstat(dfd, &st) != 0) return Errno(errno, absl::StrCat("cannot examine ", walked));
    return CheckDirectory(st, walked);
  };
  if (absl::Status s = check_open_dir(fd); !s.ok()) {
    CloseFd(fd);
    return s;
  }
  std::deque<std::string> todo;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) todo.emplace_back(part);
  int links = 0;
  while (!todo.empty()) {
    std::string part = std::move(todo.front());
    todo.pop_front();
    if (part == ".") continue;
    std::string next_shown = walked == "." ? part : JoinShown(walked, part);
    int next = openat(fd, part.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) {
      int e = errno;
      CloseFd(fd);
      return Errno(e, absl::StrCat("cannot open directory ", next_shown));
    }
    struct stat st{};
    if (fstat(next, &st) != 0) {
      int e = errno;
      CloseFd(next);
      CloseFd(fd);
      return Errno(e, absl::StrCat("cannot examine ", next_shown));
    }
    if (S_ISLNK(st.st_mode)) {
      // A link is followed only if its owner could have written the path
      // itself: the caller or root (as the kernel's protected_symlinks, but
      // everywhere, not only in sticky directories).
      if (!TrustedOwner(st.st_uid) || ++links > kMaxLinks) {
        CloseFd(next);
        CloseFd(fd);
        if (links > kMaxLinks) return Errno(ELOOP, absl::StrCat("cannot open directory ", shown_path));
        return absl::PermissionDeniedError(absl::StrCat(next_shown, " is a symbolic link owned by uid ", st.st_uid,
                                                        " (neither you nor root); not followed"));
      }
      char buf[PATH_MAX];
      ssize_t n = readlinkat(next, "", buf, sizeof(buf));
      int e = errno;
      CloseFd(next);
      if (n <= 0 || n >= static_cast<ssize_t>(sizeof(buf))) {
        CloseFd(fd);
        return Errno(n < 0 ? e : ENAMETOOLONG, absl::StrCat("cannot read the link ", next_shown));
      }
      std::string target(buf, static_cast<size_t>(n));
      std::vector<std::string> parts;
      for (absl::string_view p : absl::StrSplit(target, '/', absl::SkipEmpty())) parts.emplace_back(p);
      todo.insert(todo.begin(), parts.begin(), parts.end());
      if (target[0] == '/') {
        CloseFd(fd);
        fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        walked = "/";
        if (fd < 0) return Errno(errno, "cannot open directory /");
        if (absl::Status s = check_open_dir(fd); !s.ok()) {
          CloseFd(fd);
          return s;
        }
      }
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      CloseFd(next);
      CloseFd(fd);
      return Errno(ENOTDIR, absl::StrCat("cannot open directory ", next_shown));
    }
    if (absl::Status s = CheckDirectory(st, next_shown); !s.ok()) {
      CloseFd(next);
      CloseFd(fd);
      return s;
    }
    CloseFd(fd);
    fd = next;
    walked = part == ".." ? JoinShown(walked, "..") : next_shown;
  }
  return Dir(fd, shown_path);
}

absl::StatusOr<Dir> Dir::OpenPrivate(const std::string& path, bool create) {
  std::string parent_path, name;
  SplitPath(path, &parent_path, &name);
  if (!ValidName(name)) return absl::InvalidArgumentError(absl::StrCat(path, ": not a directory name"));
  absl::StatusOr<Dir> parent = Open(parent_path);
  if (!parent.ok()) return parent.status();
  if (create && mkdirat(parent->fd(), name.c_str(), 0700) != 0 && errno != EEXIST) {
    return Errno(errno, absl::StrCat("cannot create directory ", path));
  }
  int fd = openat(parent->fd(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return Errno(errno, absl::StrCat("cannot open directory ", path));
  struct stat st{};
  absl::Status status;
  if (fstat(fd, &st) != 0) {
    status = Errno(errno, absl::StrCat("cannot examine ", path));
  } else if (S_ISLNK(st.st_mode)) {
    status = absl::PermissionDeniedError(absl::StrCat(path, " is a symbolic link (owner uid ", st.st_uid, "); not followed"));
  } else if (!S_ISDIR(st.st_mode)) {
    status = absl::FailedPreconditionError(absl::StrCat(path, " is not a directory"));
  } else if (st.st_uid != geteuid()) {
    status = absl::PermissionDeniedError(absl::StrCat("directory ", path, " belongs to uid ", st.st_uid,
                                                      ", not to you (uid ", geteuid(), "); not used"));
  } else if ((st.st_mode & 0077) != 0) {
    status = absl::PermissionDeniedError(absl::StrCat("directory ", path, " is open to group or others (mode ",
                                                      OctalMode(st.st_mode), ", expected 0700); not used"));
  }
  if (!status.ok()) {
    CloseFd(fd);
    return status;
  }
  return Dir(fd, path);
}

absl::StatusOr<FileId> Dir::Replace(const std::string& name, std::string_view content) const {
  const std::string shown = Join(name);
  if (!ValidName(name)) return absl::InvalidArgumentError(absl::StrCat(shown, ": not a file name"));
  struct stat st{};
  if (fstatat(fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISLNK(st.st_mode)) return absl::PermissionDeniedError(absl::StrCat(shown, " is a symbolic link; not replaced"));
    if (!S_ISREG(st.st_mode)) return absl::FailedPreconditionError(absl::StrCat(shown, " exists and is not a regular file"));
    if (st.st_uid != geteuid()) return absl::PermissionDeniedError(absl::StrCat(shown, " belongs to another user"));
  } else if (errno != ENOENT) {
    return Errno(errno, absl::StrCat("cannot examine ", shown));
  }
  // A temporary no one else can have prepared: created here, exclusively.
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    tmp = absl::StrCat(name, ".tmp.", getpid());
    if (attempt > 0) absl::StrAppend(&tmp, ".", attempt);
    fd = openat(fd_, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) return Errno(errno, absl::StrCat("cannot create ", Join(tmp)));
  }
  if (fd < 0) return Errno(EEXIST, absl::StrCat("cannot create a temporary for ", shown));
  size_t off = 0;
  int err = 0;
  while (off < content.size()) {
    ssize_t n = write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
      break;
    }
    off += static_cast<size_t>(n);
  }
  FileId id;
  if (err == 0 && fstat(fd, &st) == 0) id = FileId{st.st_dev, st.st_ino};
  else if (err == 0) err = errno;
  if (close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    unlinkat(fd_, tmp.c_str(), 0);
    return Errno(err, absl::StrCat("cannot write ", Join(tmp)));
  }
  if (renameat(fd_, tmp.c_str(), fd_, name.c_str()) != 0) {
    int e = errno;
    unlinkat(fd_, tmp.c_str(), 0);
    return Errno(e, absl::StrCat("cannot rename ", Join(tmp), " to ", shown));
  }
  return id;
}

absl::StatusOr<std::string> Dir::Read(const std::string& name, size_t max_bytes, FileId* id) const {
  const std::string shown = Join(name);
  if (!ValidName(name)) return absl::InvalidArgumentError(absl::StrCat(shown, ": not a file name"));
  int fd = openat(fd_, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ELOOP) return absl::PermissionDeniedError(absl::StrCat(shown, " is a symbolic link; not read"));
    return Errno(errno, absl::StrCat("cannot read ", shown));
  }
  struct stat st{};
  absl::Status status;
  if (fstat(fd, &st) != 0) status = Errno(errno, absl::StrCat("cannot examine ", shown));
  else if (!S_ISREG(st.st_mode)) status = absl::FailedPreconditionError(absl::StrCat(shown, " is not a regular file"));
  else if (st.st_uid != geteuid()) status = absl::PermissionDeniedError(absl::StrCat(shown, " belongs to another user"));
  if (id != nullptr) *id = FileId{st.st_dev, st.st_ino};
  std::string out;
  while (status.ok()) {
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = Errno(errno, absl::StrCat("cannot read ", shown));
      break;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) status = absl::OutOfRangeError(absl::StrCat(shown, " is larger than ", max_bytes, " bytes"));
  }
  CloseFd(fd);
  if (!status.ok()) return status;
  return out;
}

absl::Status Dir::RemoveIfSame(const std::string& name, FileId id) const {
  const std::string shown = Join(name);
  if (!ValidName(name)) return absl::InvalidArgumentError(absl::StrCat(shown, ": not a file name"));
  struct stat st{};
  if (fstatat(fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(shown, " is gone"));
    return Errno(errno, absl::StrCat("cannot examine ", shown));
  }
  if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
    return absl::PermissionDeniedError(absl::StrCat(shown, " is not a file of ours; not removed"));
  }
  if (id != FileId{} && FileId{st.st_dev, st.st_ino} != id) {
    return absl::FailedPreconditionError(absl::StrCat(shown, " was replaced by another file; not removed"));
  }
  if (unlinkat(fd_, name.c_str(), 0) != 0) return Errno(errno, absl::StrCat("cannot remove ", shown));
  return absl::OkStatus();
}

absl::Status Dir::Remove(const std::string& name) const { return RemoveIfSame(name, FileId{}); }

absl::Status Dir::RemoveDir(const std::string& name) const {
  const std::string shown = Join(name);
  if (!ValidName(name)) return absl::InvalidArgumentError(absl::StrCat(shown, ": not a directory name"));
  struct stat st{};
  if (fstatat(fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Errno(errno, absl::StrCat("cannot examine ", shown));
  if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
    return absl::PermissionDeniedError(absl::StrCat(shown, " is not a directory of ours; not removed"));
  }
  if (unlinkat(fd_, name.c_str(), AT_REMOVEDIR) != 0) return Errno(errno, absl::StrCat("cannot remove ", shown));
  return absl::OkStatus();
}

absl::StatusOr<FileId> WriteFile(const std::string& path, std::string_view content) {
  std::string dir, name;
  SplitPath(path, &dir, &name);
  absl::StatusOr<Dir> d = Dir::Open(dir);
  if (!d.ok()) return d.status();
  return d->Replace(name, content);
}

absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  std::string dir, name;
  SplitPath(path, &dir, &name);
  absl::StatusOr<Dir> d = Dir::Open(dir);
  if (!d.ok()) return d.status();
  return d->Read(name, max_bytes);
}

absl::Status RemoveFileIfSame(const std::string& path, FileId id) {
  std::string dir, name;
  SplitPath(path, &dir, &name);
  absl::StatusOr<Dir> d = Dir::Open(dir);
  if (!d.ok()) return d.status();
  return d->RemoveIfSame(name, id);
}

absl::Status RemoveFile(const std::string& path) { return RemoveFileIfSame(path, FileId{}); }

}  // namespace memtrace::safe_file
