// Running an experiment into a sweep directory, resumably, on local cores (forked workers) or on MPI ranks.
//
//   DIR/plan.json          the points (id, params, config hash); a rerun must have the same plan
//   DIR/results.jsonl      one JSON line per finished point, appended and fsync'd: the resume record
//   DIR/results.json/.csv  all points in order, written when the sweep completes
//   DIR/train/<tid>/       a training run (shared by every point with the same resolved recipe)
//   DIR/points/<id>/       config.yaml (the point's resolved configuration), sim/ (the simulation run directory)
//   DIR/report.html        the report over every point's sim/ run directory
//
// A point is recorded only after all its files are written, so an interrupted sweep restarts exactly the
// points (and training runs) that had not finished; finished points are never run again. Results depend
// only on the experiment and its seeds, not on --jobs, MPI ranks or interruptions (the kernels give the same
// numbers for any thread count; each job runs with one thread when several run at once).
#pragma once

#include <string>

#include "tools/sweep/experiment.hpp"

namespace axsim::sweep {

struct RunOptions {
  std::string out_dir;
  int jobs = 0;                 // parallel local jobs; 0 = number of cores
  bool quiet = false;           // no progress lines
  bool report = true;           // write DIR/report.html at the end
  std::string label = "sweep";  // prefix of progress lines ("sweep", "run")
};

// Runs the pending points; returns the exit code (0 done, 130 interrupted). Throws InputError (e.g. the
// directory holds a different experiment) before anything runs, OutputError, or InputError/Error from a failed
// point after the others have stopped.
int run_experiment(const Experiment& experiment, const RunOptions& options);

// true when this process was started by mpirun with more than one rank (OpenMPI's environment), checked
// before MPI is initialised so the plain command never touches MPI.
bool started_under_mpi();

// The report of the sweep: DIR/report.html over the points' sim run directories; returns its path ("" when
// this build has no report renderer or the experiment simulates nothing).
std::string write_sweep_report(const Experiment& experiment, const std::string& out_dir);

}  // namespace axsim::sweep
