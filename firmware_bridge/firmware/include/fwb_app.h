/* The reference device application: samples the IMU at a fixed rate, sends IMU batches and heartbeats,
 * answers time-sync requests and configuration commands. Call fwb_app_poll() from the main loop. */
#ifndef FWB_APP_H
#define FWB_APP_H

#include <stdint.h>

typedef struct {
    uint8_t device_id;          /* id in every header */
    uint32_t imu_rate_hz;       /* sampling rate, 1..100000 */
    uint16_t batch_samples;     /* samples per IMU_BATCH frame, 1..128 */
    uint32_t heartbeat_ms;      /* heartbeat period, 0 = off */
    uint8_t streaming;          /* start streaming at boot (else wait for CONFIG STREAMING=1) */
    uint64_t max_samples;       /* stop streaming after this many samples, 0 = never */
    float accel_scale;          /* m/s^2 per count */
    float gyro_scale;           /* rad/s per count */
    uint32_t audio_rate_hz;     /* microphone sampling rate, 0 = no audio, else 1..48000 */
    uint16_t audio_chunk;       /* audio frames per AUDIO_CHUNK frame, 1..1024 */
} fwb_app_config_t;

void fwb_app_init(const fwb_app_config_t *config);
/* Do all work that is due; returns the device time (us) at which the next IMU or audio sample is due, or
 * UINT64_MAX when not streaming, so the caller can sleep until then or until a byte arrives. */
uint64_t fwb_app_poll(void);
/* Samples taken since boot. */
uint64_t fwb_app_samples_sent(void);

#endif /* FWB_APP_H */
