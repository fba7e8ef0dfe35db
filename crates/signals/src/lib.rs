//! A process's stop signals, caught from the moment [`Shutdown::install`] runs.
//!
//! A server that registers its SIGTERM handler only once it is serving dies of the signal's
//! default action when a SIGTERM (`docker stop`, a supervisor, a test) arrives in between:
//! exit status 15 instead of a graceful stop. Binaries install this before they bind, and
//! wait on it to stop.

#[cfg(unix)]
use tokio::signal::unix::{signal, Signal, SignalKind};

/// Ctrl-C and, on Unix, SIGTERM, registered at [`Shutdown::install`].
pub struct Shutdown {
    #[cfg(unix)]
    term: Option<Signal>,
    #[cfg(unix)]
    interrupt: Option<Signal>,
}

impl Shutdown {
    /// Register the handlers now (inside a Tokio runtime): from here on a stop signal is a
    /// graceful stop, whenever it comes.
    pub fn install() -> Self {
        #[cfg(unix)]
        {
            Shutdown {
                term: signal(SignalKind::terminate()).ok(),
                interrupt: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        {
            Shutdown {}
        }
    }

    /// Until the first stop signal (at once if one came since [`Shutdown::install`]).
    pub async fn wait(self) {
        #[cfg(unix)]
        {
            let (mut term, mut interrupt) = (self.term, self.interrupt);
            let term = async {
                match term.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let interrupt = async {
                match interrupt.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = term => {}
                _ = interrupt => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::Shutdown;

    #[tokio::test]
    async fn a_sigterm_before_the_wait_is_a_stop_not_a_death() {
        let shutdown = Shutdown::install();
        // To this very process, before anyone waits.
        let pid = std::process::id().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        tokio::time::timeout(std::time::Duration::from_secs(5), shutdown.wait())
            .await
            .expect("the SIGTERM sent before the wait is seen");
    }
}
