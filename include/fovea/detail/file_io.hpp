#pragma once

// Whole files in and out, for every file fovea reads or writes whole (model
// files, images, SVG charts).
//
// Reading: only regular files. A directory, FIFO, device or socket is refused
// by name before a byte is read (a FIFO would block forever, /dev/zero would
// never end), the file's size is known before anything is allocated, and the
// caller checks the header before the rest is read.
//
// Writing: the bytes go to a temporary file beside the target, which is
// flushed to disk and then renamed over the target (rename is atomic on POSIX
// file systems), so the target is at every instant the old file or the
// complete new one, and a full disk leaves the old file intact. What save
// does with a symbolic link, a read-only file or a FIFO at the target is in
// docs/model-format.md.

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/core/shape.hpp"
#include "fovea/detail/quoted_path.hpp"

namespace fovea::detail {

inline std::string errno_text(int error) { return std::generic_category().message(error); }

// "a directory", "a FIFO (named pipe)" ... for a file type that is not a
// regular file.
inline std::string describe_file_type(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

// A regular file open for reading. `prefix` and `name` make the messages:
// prefix + "cannot open " + name + ": " + reason.
class InputFile {
 public:
  InputFile(const std::filesystem::path& path, std::string prefix, std::string name)
      : prefix_(std::move(prefix)), name_(std::move(name)) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
    fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0) throw io_error(prefix_ + "cannot open " + name_ + ": " + errno_text(errno));
    struct stat info {};
    if (::fstat(fd_, &info) != 0) {
      const int error = errno;
      ::close(fd_);
      throw io_error(prefix_ + "cannot open " + name_ + ": " + errno_text(error));
    }
    if (!S_ISREG(info.st_mode)) {
      ::close(fd_);
      throw io_error(prefix_ + "cannot open " + name_ + ": it is " + describe_file_type(info.st_mode) +
                     ", expected a regular file");
    }
    size_ = static_cast<Index>(info.st_size);
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  ~InputFile() { ::close(fd_); }

  Index size() const { return size_; }

  // Reads exactly `count` bytes at the current position; a file that shrank
  // since it was opened is an io_error.
  void read(std::uint8_t* destination, Index count) {
    Index done = 0;
    while (done < count) {
      const ssize_t got = ::read(fd_, destination + done, static_cast<std::size_t>(count - done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw io_error(prefix_ + "cannot read " + name_ + ": " + errno_text(errno));
      if (got == 0) {
        throw io_error(prefix_ + "cannot read " + name_ + ": it ended after " + std::to_string(done + position_) +
                       " of " + std::to_string(size_) + " bytes (changed while read?)");
      }
      done += got;
    }
    position_ += count;
  }

 private:
  std::string prefix_;
  std::string name_;
  int fd_ = -1;
  Index size_ = 0;
  Index position_ = 0;
};

// A whole regular file of at most max_bytes (refused before reading otherwise).
inline std::vector<std::uint8_t> read_regular_file(const std::filesystem::path& path, const std::string& prefix,
                                                   const std::string& name, Index max_bytes) {
  InputFile file(path, prefix, name);
  if (file.size() > max_bytes) {
    throw format_error(prefix + name + " is " + std::to_string(file.size()) + " bytes, more than the limit of " +
                       std::to_string(max_bytes) + " (ReadLimits::max_file_bytes)");
  }
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(file.size()));
  file.read(bytes.data(), file.size());
  return bytes;
}

// Temporary files: "." + the target's name + ".tmp-" + six random characters,
// the name cut short where needed so that the whole stays within the file
// system's limit on a name (255 bytes on Linux), however long the target's.
inline constexpr std::size_t temp_suffix_bytes = 6;
inline std::string temp_prefix(const std::filesystem::path& target) {
  constexpr std::size_t name_max = 255;
  constexpr std::size_t added = 1 + 5 + temp_suffix_bytes;  // "." ... ".tmp-" XXXXXX
  std::string name = target.filename().string();
  if (name.size() + added > name_max) name.resize(name_max - added);
  return "." + name + ".tmp-";
}

// A temporary file this code made for `target` and left behind more than an
// hour ago (its save was killed) is removed. A fresh one may belong to a save
// still running in another process, and is left alone.
inline void remove_stale_temp_files(const std::filesystem::path& folder, const std::filesystem::path& target) {
  const std::string prefix = temp_prefix(target);
  DIR* dir = ::opendir(folder.c_str());
  if (dir == nullptr) return;
  const std::time_t now = std::time(nullptr);
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name.size() != prefix.size() + temp_suffix_bytes || !name.starts_with(prefix)) continue;
    const std::filesystem::path temp = folder / name;
    struct stat info {};
    if (::lstat(temp.c_str(), &info) != 0 || !S_ISREG(info.st_mode) || info.st_uid != ::geteuid()) continue;
    if (now - info.st_mtime > 3600) ::unlink(temp.c_str());
  }
  ::closedir(dir);
}

// The file a save to `path` replaces: a symbolic link is followed (the link
// stays, the file it names is replaced), and whatever is there must be a
// writable regular file. `what` names the target in messages.
inline std::filesystem::path resolve_save_target(const std::filesystem::path& path, const std::string& what) {
  std::filesystem::path target = path;
  for (int hops = 0;; ++hops) {
    struct stat info {};
    if (::lstat(target.c_str(), &info) != 0) return target;  // nothing there (yet): a new file
    if (S_ISLNK(info.st_mode)) {
      if (hops == 40) throw io_error(what + "too many levels of symbolic links");
      std::error_code ec;
      const std::filesystem::path link = std::filesystem::read_symlink(target, ec);
      if (ec) throw io_error(what + "cannot read the symbolic link " + quoted_path(target) + ": " + ec.message());
      target = link.is_absolute() ? link : target.parent_path() / link;
      continue;
    }
    if (!S_ISREG(info.st_mode)) {
      throw io_error(what + quoted_path(target) + " is " + describe_file_type(info.st_mode) +
                     ", not a regular file: refusing to replace it");
    }
    if ((info.st_mode & 0222) == 0) {
      throw io_error(what + quoted_path(target) + " is read-only: refusing to replace it");
    }
    return target;
  }
}

// Writes `bytes` to `path` through a temporary file and a rename (see this
// file's overview). Messages start with `prefix` ("write_png: " or "").
inline void write_file_atomically(const std::filesystem::path& path, std::span<const std::uint8_t> bytes,
                                  const std::string& prefix = "") {
  const std::string failed = prefix + "saving " + quoted_path(path) + " failed: ";
  const std::filesystem::path target = resolve_save_target(path, failed);
  const std::filesystem::path folder = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  remove_stale_temp_files(folder, target);
  std::string temp = (folder / (temp_prefix(target) + "XXXXXX")).string();
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) {
    throw io_error(prefix + "cannot create a temporary file in " + quoted_path(folder) + " to save " +
                   quoted_path(path) + ": " + errno_text(errno));
  }
  auto fail = [&](const std::string& step, int error) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw io_error(prefix + "saving " + quoted_path(path) + " failed while " + step + ": " + errno_text(error) +
                   " (the previous file is intact)");
  };
  // mkstemp creates the file 0600; give it the mode an ordinary new file
  // would get (or the mode of the file it replaces).
  struct stat existing {};
  mode_t mode = 0;
  if (::stat(target.c_str(), &existing) == 0) {
    mode = existing.st_mode & 07777;
  } else {
    const mode_t mask = ::umask(0);
    ::umask(mask);
    mode = 0666 & ~mask;
  }
  if (::fchmod(fd, mode) != 0) fail("setting permissions", errno);
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("writing", errno);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail("syncing", errno);
  if (::close(fd) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    throw io_error(prefix + "saving " + quoted_path(path) + " failed while closing: " + errno_text(error) +
                   " (the previous file is intact)");
  }
  if (std::rename(temp.c_str(), target.c_str()) != 0) {
    const int error = errno;
    ::unlink(temp.c_str());
    throw io_error(prefix + "saving " + quoted_path(path) + " failed while renaming: " + errno_text(error) +
                   " (the previous file is intact)");
  }
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);  // best effort: makes the rename itself durable
    ::close(dir);
  }
}

}  // namespace fovea::detail
