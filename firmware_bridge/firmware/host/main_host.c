/* Host build of the reference firmware: the device application on a pseudo-terminal.
 *
 *   build/fwb_host [options]        prints "FWB_PTY /dev/pts/N", then serves that pty until SIGTERM
 *   build/fwb_host --vectors        prints the protocol test vectors (name hex) and exits
 *
 * Options: --device-id N (1)  --rate HZ (1000)  --batch N (20)  --heartbeat-ms MS (1000)
 *          --autostart (stream at boot; default waits for CONFIG STREAMING=1)  --max-samples N (0 = no limit)
 *          --drift-ppm X (0)  --offset-us N (0)  --flip-rate P (0)  --drop-rate P (0)  --seed N (1)
 *          --damage-log PATH  --duration-s S (0 = until SIGTERM)  --audio-rate HZ (0)  --audio-chunk N (256)
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fwb_app.h"
#include "fwb_hal.h"
#include "fwb_protocol.h"
#include "hal_host.h"

#define ACCEL_SCALE (9.80665f / 2048.0f) /* +-16 g on 16 bits, m/s^2 per count */
#define GYRO_SCALE ((float)(2000.0 / 32768.0 * 3.14159265358979323846 / 180.0)) /* +-2000 dps, rad/s */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static void print_frame(const char *name, uint8_t msg_type, uint8_t device, uint16_t seq, uint64_t t_us,
                        const uint8_t *body, size_t body_len) {
    static uint8_t wire[FWB_MAX_WIRE];
    fwb_header_t h = {0};
    h.msg_type = msg_type;
    h.device_id = device;
    h.seq = seq;
    h.device_time_us = t_us;
    size_t n = fwb_build_frame(&h, body, body_len, wire);
    printf("%s ", name);
    for (size_t i = 0; i < n; ++i) printf("%02x", wire[i]);
    printf("\n");
}

static void usage(FILE *out) {
    fputs("usage: fwb_host [options]     serve the reference firmware on a new pseudo-terminal\n"
          "       fwb_host --vectors     print the protocol test vectors\n"
          "  --device-id N (1)  --rate HZ (1000)  --batch N (20)  --heartbeat-ms MS (1000, 0 = off)\n"
          "  --autostart        stream at boot (default: wait for CONFIG STREAMING=1)\n"
          "  --max-samples N    stop streaming IMU data after N samples (0 = never)\n"
          "  --audio-rate HZ (0 = off, <= 48000)  --audio-chunk N (256)   synthetic microphone\n"
          "  --drift-ppm X  --offset-us N          simulated device clock error\n"
          "  --flip-rate P  --drop-rate P  --seed N  --damage-log PATH   fault injection per frame\n"
          "  --duration-s S     exit after S seconds (0 = at SIGTERM)\n"
          "Prints 'FWB_PTY <path>' once the pty is ready.\n",
          out);
}

static int print_vectors(void) {
    uint8_t b[128];
    /* heartbeat: frames_sent 1, samples_dropped 0, rx_errors 0, status 1 (streaming) */
    memset(b, 0, sizeof b);
    fwb_put_u32(b, 1);
    fwb_put_u16(b + 12, 1);
    print_frame("heartbeat", FWB_MSG_HEARTBEAT, 1, 0, 1000000u, b, 16);
    /* IMU batch: synthetic samples 0 and 1, int16, 1000 us period, default scales */
    fwb_put_u16(b, 2);
    b[2] = 6;
    b[3] = FWB_FORMAT_INT16;
    fwb_put_u32(b + 4, 1000);
    size_t k = 8;
    for (int c = 0; c < 6; ++c, k += 4) fwb_put_f32(b + k, c < 3 ? ACCEL_SCALE : GYRO_SCALE);
    for (uint32_t n = 0; n < 2; ++n)
        for (int c = 0; c < 6; ++c, k += 2) fwb_put_u16(b + k, (uint16_t)hal_host_synthetic(n, c));
    print_frame("imu_batch", FWB_MSG_IMU_BATCH, 2, 1, 2000000u, b, k);
    /* time sync response: request 7, host time 123456789 echoed, device receive 3000200, sent 3000250 */
    fwb_put_u32(b, 7);
    fwb_put_u64(b + 4, 123456789u);
    fwb_put_u64(b + 12, 3000200u);
    print_frame("time_sync_response", FWB_MSG_TIME_SYNC_RESPONSE, 3, 2, 3000250u, b, 20);
    /* config ack: command 9, key IMU_RATE_HZ, OK, value 200 */
    fwb_put_u16(b, 9);
    b[2] = FWB_KEY_IMU_RATE_HZ;
    b[3] = FWB_ACK_OK;
    fwb_put_u32(b + 4, 200);
    print_frame("config_ack", FWB_MSG_CONFIG_ACK, 4, 3, 4000000u, b, 8);
    return 0;
}

int main(int argc, char **argv) {
    fwb_app_config_t cfg = {1, 1000, 20, 1000, 0, 0, ACCEL_SCALE, GYRO_SCALE, 0, 256};
    hal_host_options_t opts = {0};
    opts.seed = 1;
    double duration_s = 0;
    static struct option long_opts[] = {
        {"vectors", no_argument, 0, 'V'},        {"device-id", required_argument, 0, 'd'},
        {"rate", required_argument, 0, 'r'},     {"batch", required_argument, 0, 'b'},
        {"heartbeat-ms", required_argument, 0, 'h'}, {"autostart", no_argument, 0, 'a'},
        {"max-samples", required_argument, 0, 'm'}, {"drift-ppm", required_argument, 0, 'D'},
        {"offset-us", required_argument, 0, 'o'}, {"flip-rate", required_argument, 0, 'f'},
        {"drop-rate", required_argument, 0, 'x'}, {"seed", required_argument, 0, 's'},
        {"help", no_argument, 0, 'H'},           {"audio-rate", required_argument, 0, 'A'},
        {"audio-chunk", required_argument, 0, 'C'},
        {"damage-log", required_argument, 0, 'l'}, {"duration-s", required_argument, 0, 't'},
        {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        switch (opt) {
            case 'V': return print_vectors();
            case 'H': usage(stdout); return 0;
            case 'A': cfg.audio_rate_hz = (uint32_t)strtoul(optarg, NULL, 10); break;
            case 'C': cfg.audio_chunk = (uint16_t)atoi(optarg); break;
            case 'd': cfg.device_id = (uint8_t)atoi(optarg); break;
            case 'r': cfg.imu_rate_hz = (uint32_t)strtoul(optarg, NULL, 10); break;
            case 'b': cfg.batch_samples = (uint16_t)atoi(optarg); break;
            case 'h': cfg.heartbeat_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
            case 'a': cfg.streaming = 1; break;
            case 'm': cfg.max_samples = strtoull(optarg, NULL, 10); break;
            case 'D': opts.drift_ppm = atof(optarg); break;
            case 'o': opts.offset_us = strtoll(optarg, NULL, 10); break;
            case 'f': opts.flip_rate = atof(optarg); break;
            case 'x': opts.drop_rate = atof(optarg); break;
            case 's': opts.seed = strtoull(optarg, NULL, 10); break;
            case 'l':
                opts.damage_log = fopen(optarg, "w");
                if (!opts.damage_log) {
                    perror(optarg);
                    return 2;
                }
                break;
            case 't': duration_s = atof(optarg); break;
            default: usage(stderr); return 2;
        }
    }
    if (cfg.imu_rate_hz < 1 || cfg.imu_rate_hz > 100000 || cfg.batch_samples < 1 || cfg.batch_samples > 128 ||
        cfg.audio_rate_hz > 48000 || cfg.audio_chunk < 1 || cfg.audio_chunk > 1024) {
        fprintf(stderr, "fwb_host: need --rate 1..100000, --batch 1..128, --audio-rate 0..48000, --audio-chunk 1..1024\n");
        return 2;
    }
    char path[256];
    if (hal_host_open(&opts, path, sizeof path) != 0) {
        perror("fwb_host: cannot open a pseudo-terminal");
        return 1;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    printf("FWB_PTY %s\n", path);
    fflush(stdout);
    fwb_app_init(&cfg);
    uint64_t end_us = duration_s > 0 ? hal_time_us() + (uint64_t)(duration_s * 1e6) : UINT64_MAX;
    pid_t parent = getppid();
    while (!stop_requested && hal_time_us() < end_us && getppid() == parent) {
        uint64_t next = fwb_app_poll();
        hal_host_wait(next, 20000u);
    }
    fprintf(stderr, "fwb_host: %llu samples, %llu frames\n", (unsigned long long)fwb_app_samples_sent(),
            (unsigned long long)hal_host_frames_written());
    if (opts.damage_log) fclose(opts.damage_log);
    return 0;
}
