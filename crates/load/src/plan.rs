//! Which profiles a load session runs, in order: the concurrencies and rates asked for,
//! then a GuideLLM-style sweep (a synchronous run, a throughput run, then constant rates
//! between the two measured request rates, placed once both are measured).

use crate::Profile;

/// What a profile run is for: a sweep's synchronous and throughput runs place its rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Asked for (a concurrency, a rate, a sweep's rate, or the server's own batch).
    Given,
    /// The sweep's run with one request at a time.
    SweepSynchronous,
    /// The sweep's run with [`ProfilePlan::max_concurrency`] requests in flight.
    SweepThroughput,
}

/// The load profiles of a session.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProfilePlan {
    /// Closed-loop concurrencies, in order.
    pub concurrency: Vec<usize>,
    /// Open-loop rates in requests/s, in order.
    pub rates: Vec<f64>,
    /// A GuideLLM-style sweep with this many rates between its synchronous and
    /// throughput runs.
    pub sweep: Option<usize>,
    /// Requests in flight for the sweep's throughput run.
    pub max_concurrency: usize,
    /// Poisson arrivals for the rates and the sweep's rates (else a constant rate).
    pub poisson: bool,
    /// Seed of the Poisson arrivals.
    pub seed: u64,
}

impl ProfilePlan {
    /// True when no concurrency, rate or sweep is asked for (a spawned server is then
    /// loaded at a concurrency equal to its max batch).
    pub fn is_empty(&self) -> bool {
        self.concurrency.is_empty() && self.rates.is_empty() && self.sweep.is_none()
    }

    /// The profiles known before any is run, in order (the sweep's rates come later,
    /// once its synchronous and throughput runs are measured). With none asked for, a
    /// server of `max_batch` is loaded at a concurrency of `max_batch`.
    pub fn planned(&self, max_batch: Option<usize>) -> Vec<(Profile, Role)> {
        let mut profiles: Vec<(Profile, Role)> = self
            .concurrency
            .iter()
            .map(|&n| (Profile::Concurrency { n }, Role::Given))
            .collect();
        for &rate in &self.rates {
            profiles.push((self.rate_profile(rate), Role::Given));
        }
        if self.sweep.is_some() {
            profiles.push((Profile::Concurrency { n: 1 }, Role::SweepSynchronous));
            profiles.push((
                Profile::Concurrency {
                    n: self.max_concurrency,
                },
                Role::SweepThroughput,
            ));
        }
        if profiles.is_empty() {
            if let Some(b) = max_batch {
                profiles.push((Profile::Concurrency { n: b }, Role::Given));
            }
        }
        profiles
    }

    /// The open-loop profile of `rate`: Poisson or constant, as the plan says.
    pub fn rate_profile(&self, rate: f64) -> Profile {
        if self.poisson {
            Profile::Poisson {
                rate,
                seed: self.seed,
            }
        } else {
            Profile::Constant { rate }
        }
    }

    /// The sweep's rates once its synchronous (`sync_rps`) and throughput (`max_rps`)
    /// runs are measured; empty when the throughput run was not faster.
    pub fn sweep_profiles(&self, sync_rps: f64, max_rps: f64) -> Vec<Profile> {
        crate::sweep_rates(sync_rps, max_rps, self.sweep.unwrap_or(0))
            .into_iter()
            .map(|r| self.rate_profile(r))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_profiles_come_first_then_the_sweeps_two_runs() {
        let plan = ProfilePlan {
            concurrency: vec![1],
            rates: vec![2.0],
            sweep: Some(3),
            max_concurrency: 16,
            poisson: true,
            seed: 5,
        };
        let got = plan.planned(Some(4));
        assert_eq!(
            got,
            vec![
                (Profile::Concurrency { n: 1 }, Role::Given),
                (Profile::Poisson { rate: 2.0, seed: 5 }, Role::Given),
                (Profile::Concurrency { n: 1 }, Role::SweepSynchronous),
                (Profile::Concurrency { n: 16 }, Role::SweepThroughput),
            ]
        );
        let rates = plan.sweep_profiles(1.0, 5.0);
        assert_eq!(rates.len(), 3);
        assert_eq!(rates[0], Profile::Poisson { rate: 2.0, seed: 5 });
        assert!(plan.sweep_profiles(5.0, 5.0).is_empty());
    }

    #[test]
    fn with_nothing_asked_a_server_is_loaded_at_its_batch() {
        let plan = ProfilePlan::default();
        assert!(plan.is_empty());
        assert_eq!(
            plan.planned(Some(4)),
            vec![(Profile::Concurrency { n: 4 }, Role::Given)]
        );
        assert!(plan.planned(None).is_empty());
        let constant = ProfilePlan {
            rates: vec![1.5],
            ..Default::default()
        };
        assert_eq!(
            constant.planned(Some(4)),
            vec![(Profile::Constant { rate: 1.5 }, Role::Given)]
        );
    }
}
