/* A stand-in for Windows' bcryptprimitives.dll, for the Wine tests only.
 *
 * Rust's standard library imports ProcessPrng from bcryptprimitives.dll (Windows 10 and
 * later); Debian's Wine 8 has no such DLL, so no Rust program starts under it. This one
 * exports ProcessPrng and fills the buffer from RtlGenRandom (advapi32's SystemFunction036),
 * which Wine has. scripts/windows-build puts it next to the test binaries; nothing ships it. */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
