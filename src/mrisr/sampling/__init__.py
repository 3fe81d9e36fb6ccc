"""What training learns from: volumes and their patches, the planar model's plane pairs, repainted HR patches."""
