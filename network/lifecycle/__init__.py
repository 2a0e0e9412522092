"""The member's life over time: what time makes due (pending points, expired holds, expiry), tiers and the scans."""
