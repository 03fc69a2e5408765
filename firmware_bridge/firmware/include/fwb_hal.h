/* Hardware abstraction the reference firmware needs. A port implements these five functions;
 * host/hal_host.c implements them on a pseudo-terminal with synthetic IMU data. */
#ifndef FWB_HAL_H
#define FWB_HAL_H

#include <stddef.h>
#include <stdint.h>

#define FWB_IMU_CHANNELS 6 /* accel x, y, z then gyro x, y, z */

/* Monotonic device clock in microseconds. */
uint64_t hal_time_us(void);

/* Send bytes; blocks until they are queued. The firmware passes exactly one complete frame per call. */
void hal_uart_write(const uint8_t *data, size_t len);

/* Read up to cap received bytes without blocking; returns how many were read (0 if none). */
size_t hal_uart_read(uint8_t *buf, size_t cap);

/* Read one IMU sample in raw counts (accel x, y, z, gyro x, y, z). */
void hal_imu_read(int16_t out[FWB_IMU_CHANNELS]);

/* Read one mono microphone sample (int16 PCM). Only called when audio streaming is enabled. */
int16_t hal_audio_read(void);

#endif /* FWB_HAL_H */
