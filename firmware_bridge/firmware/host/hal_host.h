/* Host (Linux/POSIX) implementation of fwb_hal.h on a pseudo-terminal, for tests and demos. */
#ifndef FWB_HAL_HOST_H
#define FWB_HAL_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    double drift_ppm;      /* device clock runs this many ppm fast (negative: slow) */
    int64_t offset_us;     /* device clock value at start, microseconds */
    double flip_rate;      /* probability per frame of flipping one bit inside it */
    double drop_rate;      /* probability per frame of losing one byte inside it */
    uint64_t seed;         /* fault-injection random seed */
    FILE *damage_log;      /* one line per damaged frame: "<frame ordinal> flip|drop <byte index>" */
    uint32_t first_sample; /* index of the first synthetic IMU sample */
} hal_host_options_t;

/* Synthetic IMU value of sample n, channel c (shared formula with firmware_bridge/synthetic.py). */
int16_t hal_host_synthetic(uint32_t n, int c);

/* Synthetic audio sample n (shared formula with firmware_bridge/synthetic.py). */
int16_t hal_host_synthetic_audio(uint32_t n);

/* Open a pseudo-terminal in raw mode; writes the path of its device end into path. 0 on success. */
int hal_host_open(const hal_host_options_t *options, char *path, size_t cap);
/* Sleep until the device clock reaches until_us, a byte arrives, or max_wait_us passes. */
void hal_host_wait(uint64_t until_us, uint64_t max_wait_us);
/* Frames written so far. */
uint64_t hal_host_frames_written(void);

#endif /* FWB_HAL_HOST_H */
