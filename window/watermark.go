package window

// Watermark returns a group's watermark after a round at now (gateway clock,
// Unix ns), given the newest event time of each of its devices (newest is
// reordered). A device is live when its newest event time is after
// now − IdleTimeout. The watermark is the lower median of the live devices'
// newest event times minus AllowedSkew, and never below now − IdleTimeout:
//
//   - a minority of devices with fast clocks cannot drag it ahead (their
//     readings sit at the top of the order), and devices with slow clocks
//     or a backlog do not hold it back (they are not live, or at the bottom);
//   - a group whose devices all went silent keeps advancing with the gateway
//     clock, so it keeps emitting windows (0 of N).
//
// It costs O(len(newest)) (a selection, not a sort).
func (c Config) Watermark(now int64, newest []int64) int64 {
	idle := now - int64(c.IdleTimeout)
	live := newest[:0]
	for _, ts := range newest {
		if ts > idle {
			live = append(live, ts)
		}
	}
	if len(live) == 0 {
		return idle
	}
	return max(idle, nth(live, (len(live)-1)/2)-int64(c.AllowedSkew))
}

// nth returns the k-th smallest element of xs (0-based), reordering xs
// (Hoare's selection with a median-of-three pivot).
func nth(xs []int64, k int) int64 {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		mid := lo + (hi-lo)/2
		if xs[mid] < xs[lo] {
			xs[mid], xs[lo] = xs[lo], xs[mid]
		}
		if xs[hi] < xs[lo] {
			xs[hi], xs[lo] = xs[lo], xs[hi]
		}
		if xs[hi] < xs[mid] {
			xs[hi], xs[mid] = xs[mid], xs[hi]
		}
		p := xs[mid]
		i, j := lo, hi
		for i <= j {
			for xs[i] < p {
				i++
			}
			for xs[j] > p {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}
