/* Host HAL: UART = master side of a pseudo-terminal, clock = CLOCK_MONOTONIC with simulated drift and
 * offset, IMU = deterministic synthetic samples, plus optional fault injection on the written frames. */
#define _GNU_SOURCE
#include "hal_host.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "fwb_hal.h"

static hal_host_options_t opts;
static int master_fd = -1;
static int slave_fd = -1; /* kept open so the pty stays configured and never hangs up */
static struct timespec start;
static uint64_t frames_written;
static uint32_t imu_index;
static uint32_t audio_index;
static uint64_t rng_state;

static uint64_t rng_next(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static double rng_uniform(void) { return (double)(rng_next() >> 11) / 9007199254740992.0; }

static uint64_t host_elapsed_us(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)(now.tv_sec - start.tv_sec) * 1000000u + (uint64_t)((now.tv_nsec - start.tv_nsec) / 1000);
}

uint64_t hal_time_us(void) {
    double elapsed = (double)host_elapsed_us();
    return (uint64_t)(opts.offset_us + (int64_t)(elapsed * (1.0 + opts.drift_ppm * 1e-6)));
}

static void write_all(const uint8_t *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(master_fd, data, len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return; /* the other end is gone: nothing to deliver to */
        }
        data += n;
        len -= (size_t)n;
    }
}

void hal_uart_write(const uint8_t *data, size_t len) {
    static uint8_t damaged[8192];
    uint64_t ordinal = frames_written++;
    double r = (opts.flip_rate > 0 || opts.drop_rate > 0) ? rng_uniform() : 1.0;
    if (len > 2 && len <= sizeof damaged && r < opts.flip_rate + opts.drop_rate) {
        /* Damage one byte strictly inside the frame (its delimiters stay intact). */
        size_t index = 1 + (size_t)(rng_next() % (len - 2));
        memcpy(damaged, data, len);
        if (r < opts.flip_rate) {
            int bit = (int)(rng_next() % 8);
            if ((damaged[index] ^ (1u << bit)) == 0) bit = (bit + 1) % 8; /* a flip never forges a delimiter */
            damaged[index] ^= (uint8_t)(1u << bit);
            if (opts.damage_log) fprintf(opts.damage_log, "%llu flip %zu\n", (unsigned long long)ordinal, index);
            write_all(damaged, len);
        } else {
            memmove(damaged + index, damaged + index + 1, len - index - 1);
            if (opts.damage_log) fprintf(opts.damage_log, "%llu drop %zu\n", (unsigned long long)ordinal, index);
            write_all(damaged, len - 1);
        }
        if (opts.damage_log) fflush(opts.damage_log);
        return;
    }
    write_all(data, len);
}

size_t hal_uart_read(uint8_t *buf, size_t cap) {
    struct pollfd p = {master_fd, POLLIN, 0};
    if (poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN)) return 0;
    ssize_t n = read(master_fd, buf, cap);
    return n > 0 ? (size_t)n : 0;
}

int16_t hal_host_synthetic(uint32_t n, int c) {
    uint32_t k = 97u * (2u * (uint32_t)c + 3u);
    return (int16_t)(uint16_t)((n * k + 4099u * (uint32_t)c) & 0xFFFFu);
}

void hal_imu_read(int16_t out[FWB_IMU_CHANNELS]) {
    for (int c = 0; c < FWB_IMU_CHANNELS; ++c) out[c] = hal_host_synthetic(imu_index, c);
    imu_index++;
}

int16_t hal_host_synthetic_audio(uint32_t n) { return (int16_t)(uint16_t)((n * 1103u + 12345u) & 0xFFFFu); }

int16_t hal_audio_read(void) { return hal_host_synthetic_audio(audio_index++); }

int hal_host_open(const hal_host_options_t *options, char *path, size_t cap) {
    opts = *options;
    rng_state = opts.seed ? opts.seed : 0x9E3779B97F4A7C15ull;
    imu_index = opts.first_sample;
    clock_gettime(CLOCK_MONOTONIC, &start);
    master_fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (master_fd < 0 || grantpt(master_fd) != 0 || unlockpt(master_fd) != 0) return -1;
    const char *name = ptsname(master_fd);
    if (!name || strlen(name) + 1 > cap) return -1;
    strcpy(path, name);
    slave_fd = open(path, O_RDWR | O_NOCTTY);
    if (slave_fd < 0) return -1;
    struct termios t;
    if (tcgetattr(slave_fd, &t) != 0) return -1;
    cfmakeraw(&t); /* no echo, no CR/LF translation, 8 bits: the line carries binary frames */
    if (tcsetattr(slave_fd, TCSANOW, &t) != 0) return -1;
    return 0;
}

void hal_host_wait(uint64_t until_us, uint64_t max_wait_us) {
    uint64_t now = hal_time_us();
    uint64_t wait = until_us > now ? until_us - now : 0;
    if (wait > max_wait_us) wait = max_wait_us;
    wait = (uint64_t)((double)wait / (1.0 + opts.drift_ppm * 1e-6));
    struct pollfd p = {master_fd, POLLIN, 0};
    struct timespec ts = {(time_t)(wait / 1000000u), (long)(wait % 1000000u) * 1000};
    ppoll(&p, 1, &ts, NULL);
}

uint64_t hal_host_frames_written(void) { return frames_written; }
