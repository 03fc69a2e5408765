"""View generators and augmentations per modality."""
