//! Baseline figures (median, p95) and the least-squares trend behind predictive warnings.

use ripcord_core::plan::Trend;

/// Median of the values (mean of the middle two for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The 95th percentile, nearest rank.
pub fn p95(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((0.95 * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// Slope and intercept of the least-squares line through (t, v).
pub fn least_squares(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let (st, sv) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (t, v)| (a + t, b + v));
    let (mt, mv) = (st / n, sv / n);
    let (mut num, mut den) = (0.0, 0.0);
    for (t, v) in points {
        num += (t - mt) * (v - mv);
        den += (t - mt) * (t - mt);
    }
    if den == 0.0 {
        return None;
    }
    let slope = num / den;
    Some((slope, mv - slope * mt))
}

/// When the fitted line crosses the trend's threshold: seconds from `now` (in seconds,
/// same clock as the points), if that is within the trend's horizon and the latest value
/// has not crossed yet.
pub fn eta(trend: &Trend, points: &[(f64, f64)], now: f64) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let (slope, intercept) = least_squares(points)?;
    let current = slope * now + intercept;
    let (threshold, approaching) = match (trend.below, trend.above) {
        (Some(b), _) => (b, slope < 0.0 && current > b),
        (None, Some(a)) => (a, slope > 0.0 && current < a),
        (None, None) => return None,
    };
    if !approaching {
        return None;
    }
    let secs = (threshold - current) / slope;
    (secs >= 0.0 && secs <= trend.within.as_secs_f64()).then_some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn median_and_p95() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(p95(&v), 19.0);
        assert_eq!(p95(&[5.0]), 5.0);
    }

    #[test]
    fn a_falling_line_warns_before_it_crosses() {
        // Disk free falls 1 GB a minute from 100 GB; threshold 60 GB is 40 minutes away.
        let pts: Vec<(f64, f64)> = (0..10)
            .map(|m| (m as f64 * 60.0, 100.0 - m as f64))
            .collect();
        let now = 9.0 * 60.0;
        let t = Trend {
            below: Some(51.0),
            above: None,
            within: Duration::from_secs(3600),
            window: 20,
        };
        let eta = eta(&t, &pts, now).unwrap();
        assert!((eta - 40.0 * 60.0).abs() < 1e-6, "{eta}");
        let far = Trend {
            within: Duration::from_secs(600),
            ..t.clone()
        };
        assert_eq!(super::eta(&far, &pts, now), None);
        let rising: Vec<(f64, f64)> = pts.iter().map(|(t, v)| (*t, 200.0 - v)).collect();
        assert_eq!(super::eta(&t, &rising, now), None);
    }
}
