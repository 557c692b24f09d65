/*
 * grow.h - (internal) the one growable-array step: make room for `need`
 * elements of `elem` bytes in a realloc'd array, doubling its capacity from
 * `first` (or from the current capacity) so that n appends cost O(n).
 */
#ifndef BN_UTIL_GROW_H
#define BN_UTIL_GROW_H

#include <stddef.h>

/* Ensure *cap >= need for the array *p (NULL with *cap 0 to start). Returns 0,
 * or -1 when the size overflows or realloc fails; then *p and *cap are as
 * they were (the caller names what could not grow in its own message). */
int bnu_grow(void **p, size_t *cap, size_t need, size_t elem, size_t first);

#endif
