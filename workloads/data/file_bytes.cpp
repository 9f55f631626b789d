#include "workloads/data/file_bytes.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <utility>

#include "core/error.hpp"

#if defined(AXSIM_HAVE_ZLIB)
#include <zlib.h>
#endif

namespace axsim {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

bool has_gzip_magic(const std::vector<unsigned char>& b) { return b.size() >= 2 && b[0] == 0x1f && b[1] == 0x8b; }

#if defined(AXSIM_HAVE_ZLIB)
// Inflates every gzip member (files made by `cat a.gz b.gz` hold several). The output grows with the
// data actually present, so a lying header inside the payload can never make us allocate more than
// the stream really holds.
std::vector<unsigned char> gunzip(const std::string& path, const std::vector<unsigned char>& in) {
  std::vector<unsigned char> out;
  out.resize(std::max<std::size_t>(in.size() * 4, 1 << 16));
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw_input_error(path, "", "a gzip stream zlib can open");
  std::size_t in_pos = 0, out_pos = 0;
  int rc = Z_OK;
  while (true) {
    if (out_pos == out.size()) out.resize(out.size() * 2);
    const std::size_t in_chunk = std::min<std::size_t>(in.size() - in_pos, 1u << 30);
    const std::size_t out_chunk = std::min<std::size_t>(out.size() - out_pos, 1u << 30);
    zs.next_in = const_cast<Bytef*>(in.data() + in_pos);
    zs.avail_in = static_cast<uInt>(in_chunk);
    zs.next_out = out.data() + out_pos;
    zs.avail_out = static_cast<uInt>(out_chunk);
    rc = inflate(&zs, Z_NO_FLUSH);
    in_pos += in_chunk - zs.avail_in;
    out_pos += out_chunk - zs.avail_out;
    if (rc == Z_STREAM_END) {
      // Another member may follow; trailing zero padding (some tools add it) is ignored.
      while (in_pos < in.size() && in[in_pos] == 0) ++in_pos;
      if (in_pos == in.size()) break;
      inflateReset(&zs);
      continue;
    }
    if (rc == Z_BUF_ERROR && in_pos == in.size()) {
      inflateEnd(&zs);
      throw_input_error(path, "byte " + std::to_string(in.size()) + " of the compressed file",
                        "the rest of the gzip stream", "end of file (truncated .gz file)");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      const std::string why = zs.msg ? zs.msg : "error " + std::to_string(rc);
      inflateEnd(&zs);
      throw_input_error(path, "byte " + std::to_string(in_pos) + " of the compressed file", "valid gzip data",
                        "corrupt data (" + why + ")");
    }
  }
  inflateEnd(&zs);
  out.resize(out_pos);
  out.shrink_to_fit();
  return out;
}
#endif

}  // namespace

bool gzip_supported() {
#if defined(AXSIM_HAVE_ZLIB)
  return true;
#else
  return false;
#endif
}

FileBytes read_file_bytes(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) throw_input_error(path, "", "an existing file", "no such file");
  if (std::filesystem::is_directory(status)) throw_input_error(path, "", "a file", "a directory");
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) throw_input_error(path, "", "a readable file", std::strerror(errno));

  // Read in large chunks until EOF rather than trusting a size query, so pipes and files that
  // change size under us still read correctly; the first chunk size comes from the file size.
  FileBytes result;
  const auto size_hint = std::filesystem::file_size(path, ec);
  std::size_t capacity = ec ? (1u << 20) : static_cast<std::size_t>(size_hint) + 1;
  result.bytes.resize(capacity);
  std::size_t used = 0;
  while (true) {
    const std::size_t got = std::fread(result.bytes.data() + used, 1, result.bytes.size() - used, f.get());
    used += got;
    if (used < result.bytes.size()) {
      if (std::ferror(f.get()))
        throw_input_error(path, "byte " + std::to_string(used), "readable data", "a read error");
      break;
    }
    result.bytes.resize(result.bytes.size() * 2);
  }
  result.bytes.resize(used);
  return decode_file_bytes(std::move(result.bytes), path);
}

FileBytes decode_file_bytes(std::vector<unsigned char> raw, const std::string& name) {
  FileBytes result;
  result.bytes = std::move(raw);
  if (has_gzip_magic(result.bytes)) {
    result.was_gzip = true;
#if defined(AXSIM_HAVE_ZLIB)
    result.bytes = gunzip(name, result.bytes);
#else
    throw_input_error(name, "byte 0", "an uncompressed file (this build of axsim has no zlib)",
                      "gzip-compressed data (decompress it first: gunzip -k " + name + ")");
#endif
  }
  return result;
}

std::string byte_location(std::size_t offset, const FileBytes& file) {
  return "byte " + std::to_string(offset) + (file.was_gzip ? " of the decompressed data" : "");
}

}  // namespace axsim
