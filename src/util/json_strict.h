/*
 * json_strict.h - (internal) strict JSON documents for the configuration files
 * of a checkpoint (config.json, tokenizer_config.json, generation_config.json,
 * shard indexes). cJSON alone is lenient where Python is strict or different:
 *  - a key given twice in one object: Python keeps the last, cJSON's lookup the
 *    first; a strict reader refuses it, naming the key;
 *  - "\u0000" in a string: cJSON's C string ends there (a shard name would be
 *    cut short); refused, naming the byte offset;
 *  - a raw control character in a string, or data after the document: invalid
 *    JSON (Python refuses both); refused.
 */
#ifndef BN_UTIL_JSON_STRICT_H
#define BN_UTIL_JSON_STRICT_H

#include <stddef.h>
#include <cJSON.h>

#include "bn/error.h"

/* Parse len bytes of text (name is used in messages) into *out (cJSON_Delete). */
bn_status bnu_json_parse_strict(const char *name, const char *text, size_t len, cJSON **out,
                                bn_error *err);

#endif
