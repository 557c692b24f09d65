#!/usr/bin/python3
"""Write tests/corpus/gguf/: one malformed GGUF per validation rule of
FORMATS.md section 1, plus MANIFEST.tsv (file, a fragment the reader's error
message must contain). The files are built field by field here, independently
of the C writer, so the corpus tests the reader against the format, not
against our own writer.

Run from the repository root:  /usr/bin/python3 scripts/make_gguf_corpus.py
"""
import os
import struct
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "corpus", "gguf")

U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
F32_T, F16_T, Q8_0_T, I2_S_T = 0, 1, 8, 36


def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def gstr(s, length=None):
    b = s if isinstance(s, bytes) else s.encode()
    return u64(len(b) if length is None else length) + b


def kv(key, vtype, payload):
    return gstr(key) + u32(vtype) + payload


def kv_u32(key, v):
    return kv(key, U32, u32(v))


def tinfo(name, ne, gtype, offset, n_dims=None):
    nd = len(ne) if n_dims is None else n_dims
    return gstr(name) + u32(nd) + b"".join(u64(x & (2**64 - 1)) for x in ne) + u32(gtype) + u64(offset)


def pad(b, a=32):
    return b + b"\0" * ((-len(b)) % a)


def gguf(kvs, tinfos, data=b"", version=3, n_kv=None, n_t=None, magic=b"GGUF", align=32,
         tail=b""):
    head = magic + u32(version) + u64(len(tinfos) if n_t is None else n_t)
    head += u64(len(kvs) if n_kv is None else n_kv)
    body = head + b"".join(kvs) + b"".join(tinfos)
    return (pad(body, align) + data if tinfos else body) + tail


# A valid base: two KVs, an F32 [8, 2] (64 bytes) and an I2_S [128, 2] (96 bytes).
BASE_KVS = [kv("general.architecture", STRING, gstr("bitnet")), kv_u32("general.file_type", 40)]
F32_INFO = tinfo("a.weight", [8, 2], F32_T, 0)
I2S_INFO = tinfo("b.weight", [128, 2], I2_S_T, 64)
BASE_DATA = pad(b"\x11" * 64) + pad(b"\x55" * 64 + b"\0\0\0\x3f" + b"\0" * 28)


def base(**kw):
    args = dict(kvs=BASE_KVS, tinfos=[F32_INFO, I2S_INFO], data=BASE_DATA)
    args.update(kw)
    return gguf(**args)


def cases():
    valid = base()
    head_end = 24
    key0_end = head_end + 8 + len("general.architecture")
    kvs_end = head_end + sum(len(k) for k in BASE_KVS)
    infos_end = kvs_end + len(F32_INFO) + len(I2S_INFO)
    data_at = len(pad(valid[:infos_end]))
    c = [
        ("bad_magic", base(magic=b"GGML"), 'bad magic "GGML"'),
        ("empty_file", b"", 'bad magic ""'),
        ("version_1", base(version=1), "version 1 is not supported"),
        ("version_4", base(version=4), "version 4 is not supported"),
        ("version_big_endian", base(version=0x03000000), "big-endian"),
        ("truncated_header", valid[:20], "file truncated: KV count needs 8 bytes"),
        ("truncated_key", gguf(BASE_KVS[:1], [])[:key0_end - 3], "key length 20 exceeds"),
        ("truncated_value", gguf(BASE_KVS, [])[:kvs_end - 2],
         "file truncated: u32 needs 4 bytes but only 2 remain"),
        ("truncated_tensor_info", valid[:kvs_end + 20], "tensor 0 'a.weight'"),
        ("truncated_tensor_data", valid[:data_at + 64 + 50], "run past the end of the file"),
        ("truncated_before_data", valid[:infos_end + 1], "data section would start at"),
        ("huge_kv_count", base(n_kv=2**32), "KV count 4294967296 cannot fit"),
        ("huge_tensor_count", base(n_t=2**60), "tensor count 1152921504606846976 cannot fit"),
        ("huge_key_length", gguf([gstr("k", 2**60) + b"k" + u32(U8) + b"\1"], []),
         "key length 1152921504606846976 exceeds"),
        ("huge_string_length", gguf([kv("s", STRING, gstr("abc", 2**60))], []),
         "string value length 1152921504606846976 exceeds"),
        ("huge_array_count", gguf([kv("a", ARRAY, u32(U32) + u64(2**60) + u32(1))], []),
         "array of 1152921504606846976 u32"),
        ("huge_string_array_count",
         gguf([kv("a", ARRAY, u32(STRING) + u64(2**61) + gstr("x"))], []),
         "array of 2305843009213693952 strings cannot fit"),
        ("truncated_array", gguf([kv("a", ARRAY, u32(U32) + u64(3) + u32(1) + u32(2))], []),
         "array of 3 u32 needs 4 bytes per element but only 8 bytes remain"),
        ("string_in_array_past_end",
         gguf([kv("a", ARRAY, u32(STRING) + u64(2) + gstr("x") + gstr("yy", 99))], []),
         "array string length 99 exceeds"),
        ("unknown_value_type", gguf([kv("k", 13, u32(0))], []), "unknown value type 13"),
        ("unknown_array_type", gguf([kv("k", ARRAY, u32(99) + u64(1) + u32(0))], []),
         "unknown array element type 99"),
        ("nested_array",
         gguf([kv("k", ARRAY, u32(ARRAY) + u64(1) + u32(U8) + u64(1) + b"\1")], []),
         "arrays of arrays are not allowed"),
        ("bool_not_0_or_1", gguf([kv("flag", BOOL, b"\2")], []), "bool value 2 is not 0 or 1"),
        ("bool_array_not_0_or_1", gguf([kv("flags", ARRAY, u32(BOOL) + u64(3) + b"\1\0\7")], []),
         "bool value 7 is not 0 or 1"),
        ("empty_key", gguf([kv("", U8, b"\1")], [], tail=b"\0" * 8), "key is empty"),
        ("key_with_nul", gguf([kv(b"a\0b", U8, b"\1")], []), "key contains a NUL byte"),
        ("duplicate_key", base(kvs=BASE_KVS + [kv_u32("general.file_type", 1)]),
         "kv 2 'general.file_type': duplicate key (first defined by kv 1)"),
        ("duplicate_tensor", base(tinfos=[F32_INFO, tinfo("a.weight", [128, 2], I2_S_T, 64)]),
         "tensor 1 'a.weight': duplicate tensor name (first used by tensor 0)"),
        ("tensor_name_64_bytes", base(tinfos=[F32_INFO, tinfo("n" * 64, [128, 2], I2_S_T, 64)]),
         "name is 64 bytes long, more than 63"),
        ("tensor_name_empty", base(tinfos=[F32_INFO, tinfo("", [128, 2], I2_S_T, 64)]),
         "tensor name is empty"),
        ("n_dims_5", base(tinfos=[F32_INFO, tinfo("b.weight", [128, 2, 1, 1, 1], I2_S_T, 64)]),
         "n_dims=5 is not in 1..4"),
        ("n_dims_0", base(tinfos=[F32_INFO, tinfo("b.weight", [], I2_S_T, 64)]),
         "n_dims=0 is not in 1..4"),
        ("negative_ne", base(tinfos=[F32_INFO, tinfo("b.weight", [128, -2], I2_S_T, 64)]),
         "ne[1]=-2 is not a positive size"),
        ("zero_ne", base(tinfos=[F32_INFO, tinfo("b.weight", [128, 0], I2_S_T, 64)]),
         "ne[1]=0 is not a positive size"),
        ("overflowing_shape",
         base(tinfos=[F32_INFO, tinfo("b.weight", [2**32, 2**32, 2**32], F32_T, 64)]),
         "ne[1]=4294967296 makes the element count overflow int64"),
        ("overflowing_bytes", base(tinfos=[F32_INFO, tinfo("b.weight", [2**62], F32_T, 64)]),
         "overflow a 64-bit byte size"),
        ("ne0_not_multiple_of_i2s_block",
         base(tinfos=[F32_INFO, tinfo("blk.0.attn_q.weight", [100, 2], I2_S_T, 64)]),
         "tensor 1 'blk.0.attn_q.weight': ne[0]=100 is not a multiple of the I2_S block (128)"),
        ("ne0_not_multiple_of_q8_0_block",
         base(tinfos=[F32_INFO, tinfo("b.weight", [33, 2], Q8_0_T, 64)]),
         "ne[0]=33 is not a multiple of the Q8_0 block (32)"),
        ("unknown_ggml_type", base(tinfos=[F32_INFO, tinfo("b.weight", [128, 2], 2, 64)]),
         "unknown or unsupported ggml type 2"),
        ("huge_ggml_type", base(tinfos=[F32_INFO, tinfo("b.weight", [128, 2], 2**31, 64)]),
         "unknown or unsupported ggml type 2147483648"),
        ("misaligned_offset", base(tinfos=[F32_INFO, tinfo("b.weight", [128, 2], I2_S_T, 65)]),
         "data offset 65 is not a multiple of the alignment (32)"),
        ("overlapping_tensors", base(tinfos=[F32_INFO, tinfo("b.weight", [128, 2], I2_S_T, 32)]),
         "overlaps tensor 0 'a.weight', which ends at 64"),
        ("gap_between_tensors", base(tinfos=[F32_INFO, tinfo("b.weight", [128, 2], I2_S_T, 96)]),
         "data offset 96 leaves a gap: the previous tensors end at 64"),
        ("first_offset_not_zero",
         base(tinfos=[tinfo("a.weight", [8, 2], F32_T, 32), I2S_INFO]),
         "data offset 32 leaves a gap"),
        ("data_past_end_of_file",
         base(tinfos=[F32_INFO, tinfo("b.weight", [128, 64], I2_S_T, 64)]),
         "run past the end of the file"),
        ("offset_past_end_of_file",
         base(tinfos=[F32_INFO, tinfo("b.weight", [128, 2], I2_S_T, 2**63)]),
         "data offset 9223372036854775808 leaves a gap"),
        ("alignment_0", base(kvs=BASE_KVS + [kv_u32("general.alignment", 0)]),
         "general.alignment=0 is not a power of two"),
        ("alignment_3", base(kvs=BASE_KVS + [kv_u32("general.alignment", 3)]),
         "general.alignment=3 is not a power of two"),
        ("alignment_wrong_type", base(kvs=BASE_KVS + [kv("general.alignment", U64, u64(32))]),
         "general.alignment has type u64, expected u32"),
        ("alignment_64_not_honoured",
         base(kvs=BASE_KVS + [kv_u32("general.alignment", 64)],
              tinfos=[tinfo("a.weight", [8, 2], F32_T, 0), tinfo("b.weight", [128, 2], I2_S_T, 96)],
              align=64),
         "data offset 96 is not a multiple of the alignment (64)"),
        ("not_gguf_text", b"this is not a model\n", 'bad magic "this"'),
    ]
    return c


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".gguf"):
            os.remove(os.path.join(OUT, f))
    lines = ["# file\tfragment the reader's error message must contain (written by "
             "scripts/make_gguf_corpus.py)"]
    names = set()
    for name, data, expect in cases():
        assert name not in names, name
        names.add(name)
        with open(os.path.join(OUT, name + ".gguf"), "wb") as f:
            f.write(data)
        lines.append(name + ".gguf\t" + expect)
    # The unmutated base, which must open: proof that each case breaks one rule only.
    with open(os.path.join(OUT, "base.valid"), "wb") as f:
        f.write(base())
    with open(os.path.join(OUT, "MANIFEST.tsv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %d files to %s" % (len(names), os.path.normpath(OUT)), file=sys.stderr)


if __name__ == "__main__":
    main()
