"""Datasets: the procedural shapes32 domain and image disturbances."""
