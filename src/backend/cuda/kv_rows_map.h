#pragma once
// A TMA descriptor over a paged KV cache seen as rows of 128 bytes (one
// key's or one value's e4m3 codes of a 128-wide head), so that a decode
// kernel copies a 16-key run of one cache block with one instruction instead
// of 8 cp.async chunks a key (each with its own address arithmetic).

#include <cstddef>

namespace mlxs::backend::cuda {

// The rows a box copies (one warp's keys of a tile; a divisor of the
// cache blocks the descriptor serves).
inline constexpr int kKvRowsBox = 16;

// A device copy of the descriptor (cuTensorMapEncodeTiled: 8-bit elements,
// rows of `row_bytes`, kKvRowsBox-row boxes, the 128-byte swizzle) over
// `bytes` at `base`; null where it does not apply (rows other than 128
// bytes, more rows than a 32-bit coordinate reaches) or the driver lacks
// tensor maps. Freed with free_kv_rows_map.
const void* make_kv_rows_map(void* base, std::size_t bytes, int row_bytes);
void free_kv_rows_map(const void* map);

}  // namespace mlxs::backend::cuda
