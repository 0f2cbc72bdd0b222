// Host/device qualifiers so one header serves g++ and nvcc.
#pragma once

#if defined(__CUDACC__)
#define MI_HD __host__ __device__ __forceinline__
#else
#define MI_HD inline
#endif
