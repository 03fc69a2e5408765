"""Edge-sized encoders per modality (image, IMU / time series, spectrogram, feature vector)."""
