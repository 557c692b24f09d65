/*
 * version.h - the one bntk version: what every tool's --version and every
 * JSON output ("version") reports, and what a program linked against libbn
 * can ask of the library it actually loaded.
 *
 * Contract:
 *  1. BN_VERSION is the release (MAJOR.MINOR.PATCH, Semantic Versioning). The
 *     Makefile reads it from this header (soname, pkg-config, make dist), so
 *     it is written here and nowhere else.
 *  2. BN_ABI_VERSION is the shared library's ABI: libbn.so.BN_ABI_VERSION.
 *     It changes when a public function or struct changes incompatibly.
 *  3. bn_version() is BN_VERSION, plus "+g<commit>" (12 hex digits of the git
 *     commit) when built from a git checkout or from a `make dist` tarball,
 *     plus ".dirty" when the checkout had uncommitted changes. For example
 *     "0.1.0+g1a2b3c4d5e6f". bn_version_commit() is just the commit part
 *     ("1a2b3c4d5e6f", "1a2b3c4d5e6f.dirty", or "" when unknown).
 *     Both return static strings.
 */
#ifndef BN_VERSION_H
#define BN_VERSION_H

#define BN_VERSION_MAJOR 0
#define BN_VERSION_MINOR 1
#define BN_VERSION_PATCH 0
#define BN_VERSION "0.1.0"
#define BN_ABI_VERSION 1

#pragma GCC visibility push(default)

const char *bn_version(void);
const char *bn_version_commit(void);

#pragma GCC visibility pop

#endif
