/* Wine 8.0 (Debian 12's) has no bcryptprimitives.dll, whose ProcessPrng
 * Rust's standard library takes its random numbers from on Windows; every
 * Windows since 10 has it. This stand-in, built only for the test under
 * Wine, answers ProcessPrng from advapi32's RtlGenRandom, which Wine has. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG n = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        length -= n;
    }
    return TRUE;
}
