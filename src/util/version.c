/* version.c - see include/bn/version.h. The Makefile passes BN_GIT_COMMIT
 * to this file only, so a new commit recompiles one object. */
#include "bn/version.h"

#ifndef BN_GIT_COMMIT
#define BN_GIT_COMMIT ""
#endif

const char *bn_version(void)
{
    return sizeof BN_GIT_COMMIT > 1 ? BN_VERSION "+g" BN_GIT_COMMIT : BN_VERSION;
}

const char *bn_version_commit(void)
{
    return BN_GIT_COMMIT;
}
