#include "tools/sweep/runner.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <omp.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "tools/sweep/jobs.hpp"
#include "tools/sweep/sweep_dir.hpp"

#if __has_include("tools/cli/report_render.hpp")
#include "tools/cli/report_render.hpp"
#define AXSIM_HAVE_REPORT 1
#endif

#ifdef AXSIM_HAVE_MPI
#include <mpi.h>
#endif

namespace axsim::sweep {

namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_sweep_signal(int) { g_interrupted = true; }

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string params_text(const nlohmann::json& params) {
  std::string s;
  for (const auto& [k, v] : params.items())
    s += (s.empty() ? "" : ", ") + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  return s;
}

// One progress line per finished point (plain lines: several jobs finish in any order).
std::string point_line(const nlohmann::json& r) {
  std::string s;
  if (r.contains("sim")) {
    const auto& m = r["sim"];
    s += fmt::format("accuracy {:.2f}%", 100 * m["accuracy"].get<double>());
    if (m["accuracy_ci95_half_width"].is_number() && !m["deterministic"].get<bool>())
      s += fmt::format(" +- {:.2f}%", 100 * m["accuracy_ci95_half_width"].get<double>());
    s += ", " + format_quantity(m["energy_per_inference_j"].get<double>(), Dim::joule) + "/inference";
  } else if (r.contains("train")) {
    s += fmt::format("test accuracy {:.2f}%", 100 * r["train"]["final_test_accuracy"].get<double>());
  }
  const std::string p = params_text(r["params"]);
  return p.empty() ? s : s + "  (" + p + ")";
}

// ---- the two tasks, run in a worker (forked child or MPI rank) ----

// The recorded part of a training run: deterministic fields only (no wall times, thread counts, rates).
nlohmann::json train_summary(const TrainStage& stage, const nlohmann::json& history) {
  nlohmann::json s;
  s["id"] = stage.id;
  s["method"] = history.value("method", "");
  s["final_test_accuracy"] = history.value("final_test_accuracy", 0.0);
  const auto& epochs = history.contains("epochs") ? history["epochs"] : nlohmann::json::array();
  s["epochs"] = epochs.size();
  if (!epochs.empty()) {
    nlohmann::json last = epochs.back();
    for (const char* timing : {"samples_per_s", "seconds"}) last.erase(timing);
    s["final_epoch"] = last;
  }
  return s;
}

void set_threads(int threads) {
  if (threads > 0) omp_set_num_threads(threads);
}

// Trains a stage into DIR/train/<tid> (a leftover of an interrupted attempt is removed first) and writes
// done.json last, which marks the stage finished.
nlohmann::json execute_train(const Experiment& ex, const TrainStage& stage, const SweepDir& dir, int threads,
                             bool verbose = false) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string out = dir.train_dir(stage);
  fs::remove_all(out);
  set_threads(threads);
  const jobs::TrainOutcome outcome =
      jobs::run_train(train_config(ex, stage), out, jobs::TrainOptions{false, !verbose, threads});
  if (!outcome.completed) throw OutputError("training " + stage.id + " was interrupted");
  nlohmann::json done = train_summary(stage, outcome.history);
  write_file_atomic((fs::path(out) / "done.json").string(),
                    nlohmann::json{{"summary", done}, {"wall_seconds", seconds_since(t0)}}.dump(2) + "\n");
  return done;
}

// Runs a point into DIR/points/<id>: config.yaml, sim/ (when it simulates), point.json (the results line plus
// its wall time) written last.
nlohmann::json execute_point(const Experiment& ex, const Point& p, const SweepDir& dir, int threads) {
  const auto t0 = std::chrono::steady_clock::now();
  const std::string out = dir.point_dir(p);
  fs::remove_all(out);
  ensure_directory(out);
  write_file_atomic((fs::path(out) / "config.yaml").string(), to_yaml_text(p.tree));
  nlohmann::json line;
  line["point"] = p.id;
  line["index"] = p.index;
  line["params"] = params_json(p);
  line["config_hash"] = p.hash;
  std::string model;
  if (p.train >= 0) {
    const TrainStage& stage = ex.trains[std::size_t(p.train)];
    line["train"] = dir.train_done(stage).at("summary");
    line["train"]["dir"] = fs::relative(dir.train_dir(stage), dir.root()).string();
    model = (fs::path(dir.train_dir(stage)) / "model.safetensors").string();
  }
  if (p.simulate) {
    set_threads(threads);
    jobs::SimJob job = sim_job(ex, p, model);
    const sim::SimulationResult r = jobs::run_sim(job, dir.sim_dir(p), /*quiet=*/true);
    line["sim"] = jobs::sim_summary(r);
    line["sim"]["dir"] = fs::relative(dir.sim_dir(p), dir.root()).string();
  }
  write_file_atomic((fs::path(out) / "point.json").string(),
                    nlohmann::json{{"result", line}, {"wall_seconds", seconds_since(t0)}}.dump(2) + "\n");
  return line;
}

// ---- local: a pool of forked workers ----
// Why processes and not threads: a SystemC simulation context is process-global (one simulation at a time per
// process), and a crashed or interrupted job must not take finished points with it.

struct Task {
  bool train = false;
  int index = 0;  // into trains or points
};

int run_child(const std::function<void()>& work, const std::string& what) {
  try {
    work();
    return 0;
  } catch (const InputError& e) {
    std::cerr << "axsim: error: " << what << ": " << e.what() << "\n";
    return 2;
  } catch (const OutputError& e) {
    std::cerr << "axsim: error: " << what << ": " << e.what() << "\n";
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "axsim: internal error: " << what << ": " << e.what() << "\n";
    return 1;
  }
}

pid_t fork_worker(const std::function<void()>& work, const std::string& what) {
  std::cout.flush();
  std::cerr.flush();
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw OutputError(std::string("cannot start a worker process: ") + std::strerror(errno));
  if (pid > 0) return pid;
  // A worker never outlives the sweep (a killed sweep must not leave jobs writing into its directory).
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  const int code = run_child(work, what);
  std::cout.flush();
  std::cerr.flush();
  _exit(code);  // no static destructors of the parent's copy
}

struct Plan {
  std::vector<int> trains, points;  // pending, in order
};

Plan pending_work(const Experiment& ex, const SweepDir& dir) {
  Plan plan;
  std::set<int> needed;
  for (const auto& p : ex.points)
    if (!dir.finished(p.id)) {
      plan.points.push_back(p.index);
      if (p.train >= 0 && !dir.train_finished(ex.trains[std::size_t(p.train)])) needed.insert(p.train);
    }
  plan.trains.assign(needed.begin(), needed.end());
  return plan;
}

void print_start(const Experiment& ex, const SweepDir& dir, const Plan& plan, const RunOptions& o,
                 const std::string& where) {
  if (o.quiet) return;
  const std::size_t done = ex.points.size() - plan.points.size();
  std::cerr << fmt::format("{}: {}: {} point(s){}, {} training run(s) to do, {} -> {}\n", o.label, ex.name,
                           ex.points.size(), done ? fmt::format(" ({} already finished)", done) : "",
                           plan.trains.size(), where, dir.root());
}

// After the last point: results in order, the report.
int finish(const Experiment& ex, const SweepDir& dir, const RunOptions& o) {
  dir.write_summary(ex);
  std::string report;
  if (o.report) report = write_sweep_report(ex, dir.root());
  if (!o.quiet) {
    std::cerr << fmt::format("{}: finished: {}\n", o.label, (fs::path(dir.root()) / "results.jsonl").string());
    if (o.report && report.empty())
      std::cerr << o.label << ": no report: this build has no report renderer (tools/cli/report_render.hpp)\n";
  }
  if (!report.empty())
    std::cout << report << "\n";
  else
    std::cout << dir.root() << "\n";
  return 0;
}

int run_local(const Experiment& ex, SweepDir& dir, const RunOptions& o) {
  const Plan plan = pending_work(ex, dir);
  const int jobs = o.jobs > 0 ? o.jobs : int(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = jobs > 1 ? 1 : 0;
  print_start(ex, dir, plan, o, fmt::format("{} parallel job(s)", jobs));

  std::vector<int> trains = plan.trains, points = plan.points;
  std::set<int> trains_running;
  std::map<pid_t, std::pair<Task, std::chrono::steady_clock::time_point>> running;
  std::size_t finished = ex.points.size() - points.size();
  int failure = 0;

  auto train_ready = [&](const Point& p) { return p.train < 0 || dir.train_finished(ex.trains[std::size_t(p.train)]); };
  struct sigaction sa {
  }, old_int{}, old_term{};
  sa.sa_handler = on_sweep_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  g_interrupted = false;

  while (true) {
    // Launch: training runs first (they unblock points), then points whose network is trained.
    while (!failure && !g_interrupted && int(running.size()) < jobs) {
      std::optional<Task> next;
      if (!trains.empty()) {
        next = Task{true, trains.front()};
        trains.erase(trains.begin());
      } else {
        for (std::size_t i = 0; i < points.size(); ++i)
          if (train_ready(ex.points[std::size_t(points[i])])) {
            next = Task{false, points[i]};
            points.erase(points.begin() + long(i));
            break;
          }
      }
      if (!next) break;
      pid_t pid;
      if (next->train) {
        const TrainStage& stage = ex.trains[std::size_t(next->index)];
        if (!o.quiet) std::cerr << fmt::format("{}: train {} started\n", o.label, stage.id);
        const bool verbose = !o.quiet && plan.trains.size() == 1;  // a lone training run shows its epochs
        pid = fork_worker([&] { execute_train(ex, stage, dir, threads, verbose); }, "training " + stage.id);
      } else {
        const Point& p = ex.points[std::size_t(next->index)];
        pid = fork_worker([&] { execute_point(ex, p, dir, threads); }, "point " + p.id);
      }
      running[pid] = {*next, std::chrono::steady_clock::now()};
    }
    if (running.empty()) break;
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      throw OutputError(std::string("waiting for sweep workers: ") + std::strerror(errno));
    }
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const auto [task, t0] = it->second;
    running.erase(it);
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok) {
      if (g_interrupted) continue;
      failure = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
      const std::string what = task.train ? "training " + ex.trains[std::size_t(task.index)].id
                                          : "point " + ex.points[std::size_t(task.index)].id;
      std::cerr << fmt::format("{}: {} failed ({}); waiting for the running jobs, then stopping\n", o.label, what,
                               WIFEXITED(status) ? fmt::format("exit code {}", WEXITSTATUS(status))
                                                 : fmt::format("signal {}", WTERMSIG(status)));
      continue;
    }
    if (task.train) {
      const TrainStage& stage = ex.trains[std::size_t(task.index)];
      if (!o.quiet)
        std::cerr << fmt::format("{}: train {} done in {:.1f}s: test accuracy {:.2f}%\n", o.label, stage.id,
                                 seconds_since(t0),
                                 100 * dir.train_done(stage)["summary"]["final_test_accuracy"].get<double>());
    } else {
      const Point& p = ex.points[std::size_t(task.index)];
      const nlohmann::json line = dir.read_point_result(p);
      dir.append_result(line);
      ++finished;
      if (!o.quiet)
        std::cerr << fmt::format("{}: [{}/{}] {} done in {:.1f}s: {}\n", o.label, finished, ex.points.size(), p.id,
                                 seconds_since(t0), point_line(line));
    }
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  if (g_interrupted) {
    std::cerr << fmt::format(
        "{}: interrupted; {} of {} points are recorded in {} (run the same command again to "
        "finish)\n",
        o.label, finished, ex.points.size(), (fs::path(dir.root()) / "results.jsonl").string());
    return 130;
  }
  if (failure) return failure;
  return finish(ex, dir, o);
}

#ifdef AXSIM_HAVE_MPI
// ---- MPI: static round-robin of training groups over ranks; rank 0 gathers every file and result ----
//
// A group is a training run with all its pending points (or one point without training), so no rank waits for
// another's network. Workers send each finished task's files (and results line) to rank 0, which writes what
// it does not already have (ranks on other machines) and alone appends to results.jsonl and writes the report.

constexpr int kTagResult = 1, kTagDone = 2;

void send_message(const std::string& text, int tag, std::vector<std::unique_ptr<std::string>>& keep,
                  std::vector<MPI_Request>& requests) {
  keep.push_back(std::make_unique<std::string>(text));
  MPI_Request req;
  MPI_Isend(keep.back()->data(), int(keep.back()->size()), MPI_CHAR, 0, tag, MPI_COMM_WORLD, &req);
  requests.push_back(req);
}

std::string receive_message(int& source, int& tag) {
  MPI_Status st;
  MPI_Probe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
  int count = 0;
  MPI_Get_count(&st, MPI_CHAR, &count);
  std::string buf(std::size_t(count), '\0');
  MPI_Recv(buf.data(), count, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  source = st.MPI_SOURCE;
  tag = st.MPI_TAG;
  return buf;
}

std::string broadcast(std::string text, int root_rank) {
  long n = long(text.size());
  MPI_Bcast(&n, 1, MPI_LONG, root_rank, MPI_COMM_WORLD);
  text.resize(std::size_t(n));
  MPI_Bcast(text.data(), int(n), MPI_CHAR, root_rank, MPI_COMM_WORLD);
  return text;
}

int run_mpi(const Experiment& ex, SweepDir* dir0, const std::string& out_dir, const RunOptions& o, int rank, int size) {
  // Rank 0 decides what is pending (it alone reads the resume record) and assigns groups round-robin.
  std::string assignment_text;
  if (rank == 0) {
    const Plan plan = pending_work(ex, *dir0);
    print_start(ex, *dir0, plan, o, fmt::format("{} MPI ranks", size));
    std::vector<std::vector<int>> groups;
    std::map<int, std::size_t> group_of_train;
    for (int pi : plan.points) {
      const Point& p = ex.points[std::size_t(pi)];
      if (p.train < 0) {
        groups.push_back({pi});
        continue;
      }
      auto [it, fresh] = group_of_train.emplace(p.train, groups.size());
      if (fresh) groups.emplace_back();
      groups[it->second].push_back(pi);
    }
    nlohmann::json a = nlohmann::json::array();
    for (int r = 0; r < size; ++r) a.push_back(nlohmann::json::array());
    for (std::size_t g = 0; g < groups.size(); ++g) a[g % std::size_t(size)].push_back(groups[g]);
    assignment_text = a.dump();
  }
  const nlohmann::json assignment = nlohmann::json::parse(broadcast(assignment_text, 0));
  SweepDir local = rank == 0 ? *dir0 : SweepDir::open_worker(out_dir);
  SweepDir& dir = rank == 0 ? *dir0 : local;

  std::vector<std::unique_ptr<std::string>> keep;
  std::vector<MPI_Request> requests;
  std::size_t finished = ex.points.size() - [&] {
    std::size_t n = 0;
    for (const auto& r : assignment)
      for (const auto& g : r) n += g.size();
    return n;
  }();
  std::string first_error;
  int failure = 0;

  // Rank 0 records a worker's (or its own) finished task.
  auto record = [&](const std::string& bundle) {
    const nlohmann::json line = dir.unpack_bundle(bundle);
    if (line.is_null()) return;  // a training run's files
    dir.append_result(line);
    ++finished;
    if (!o.quiet)
      std::cerr << fmt::format("{}: [{}/{}] {} done: {}\n", o.label, finished, ex.points.size(),
                               line["point"].get<std::string>(), point_line(line));
  };
  auto drain = [&] {  // rank 0, between its own tasks
    int flag = 1;
    while (flag) {
      MPI_Status st;
      MPI_Iprobe(MPI_ANY_SOURCE, kTagResult, MPI_COMM_WORLD, &flag, &st);
      if (!flag) break;
      int src, tag;
      record(receive_message(src, tag));
    }
  };

  const int threads = 1;
  const std::string rank_label = fmt::format("{} (rank {})", o.label, rank);
  try {
    for (const auto& group : assignment[std::size_t(rank)]) {
      for (const auto& pij : group) {
        const Point& p = ex.points[std::size_t(pij.get<int>())];
        if (p.train >= 0 && !dir.train_finished(ex.trains[std::size_t(p.train)])) {
          const TrainStage& stage = ex.trains[std::size_t(p.train)];
          const auto t0 = std::chrono::steady_clock::now();
          fs::remove_all(dir.train_dir(stage));
          execute_train(ex, stage, dir, threads);
          if (!o.quiet)
            std::cerr << fmt::format("{}: train {} done in {:.1f}s\n", rank_label, stage.id, seconds_since(t0));
          const std::string bundle = dir.pack_bundle(dir.train_dir(stage), nlohmann::json());
          if (rank == 0)
            record(bundle);
          else
            send_message(bundle, kTagResult, keep, requests);
        }
        execute_point(ex, p, dir, threads);
        const std::string bundle = dir.pack_bundle(dir.point_dir(p), dir.read_point_result(p));
        if (rank == 0) {
          record(bundle);
          drain();
        } else {
          send_message(bundle, kTagResult, keep, requests);
        }
      }
    }
  } catch (const InputError& e) {
    failure = 2;
    first_error = e.what();
  } catch (const OutputError& e) {
    failure = 3;
    first_error = e.what();
  } catch (const std::exception& e) {
    failure = 1;
    first_error = e.what();
  }
  if (failure) std::cerr << fmt::format("axsim: error: {}: {}\n", rank_label, first_error);
  // Everyone reports its end; rank 0 keeps recording results until every worker has.
  if (rank != 0) {
    send_message(std::to_string(failure), kTagDone, keep, requests);
    MPI_Waitall(int(requests.size()), requests.data(), MPI_STATUSES_IGNORE);
  } else {
    int workers_done = 0;
    while (workers_done < size - 1) {
      int src, tag;
      const std::string msg = receive_message(src, tag);
      if (tag == kTagDone) {
        ++workers_done;
        if (!failure) failure = std::atoi(msg.c_str());
      } else if (!failure) {
        record(msg);
      } else {
        record(msg);  // a finished point stays finished even if another failed
      }
    }
  }
  int any_failure = failure;
  MPI_Allreduce(&failure, &any_failure, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (any_failure) return any_failure;
  if (rank == 0) return finish(ex, dir, o);
  return 0;
}
#endif

}  // namespace

bool started_under_mpi() {
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  return size && std::atoi(size) > 1;
}

std::string write_sweep_report(const Experiment& ex, const std::string& out_dir) {
  std::vector<fs::path> runs;
  for (const auto& p : ex.points)
    if (p.simulate) runs.push_back(fs::path(out_dir) / "points" / p.id / "sim");
  if (runs.empty()) return "";
#ifdef AXSIM_HAVE_REPORT
  const fs::path html = fs::path(out_dir) / "report.html";
  axsim::report::write_report(runs, html);
  return html.string();
#else
  return "";
#endif
}

int run_experiment(const Experiment& ex, const RunOptions& options) {
  if (!started_under_mpi()) {
    SweepDir dir = SweepDir::open(options.out_dir, ex);
    return run_local(ex, dir, options);
  }
#ifdef AXSIM_HAVE_MPI
  MPI_Init(nullptr, nullptr);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int code = 0;
  // Rank 0 alone opens (and checks) the directory; the others wait for its verdict.
  std::optional<SweepDir> dir0;
  std::string open_error;
  int open_code = 0;
  if (rank == 0) {
    try {
      dir0.emplace(SweepDir::open(options.out_dir, ex));
    } catch (const InputError& e) {
      open_code = 2;
      open_error = e.what();
    } catch (const OutputError& e) {
      open_code = 3;
      open_error = e.what();
    }
  }
  MPI_Bcast(&open_code, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (open_code) {
    if (rank == 0) std::cerr << "axsim: error: " << open_error << "\n";
    code = open_code;
  } else {
    code = run_mpi(ex, rank == 0 ? &*dir0 : nullptr, options.out_dir, options, rank, size);
  }
  MPI_Finalize();
  return code;
#else
  // Without MPI support every rank would run the whole sweep: rank 0 runs it alone.
  const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
  if (rank && std::atoi(rank) != 0) return 0;
  std::cerr << options.label << ": this axsim was built without MPI; rank 0 runs every point locally\n";
  SweepDir dir = SweepDir::open(options.out_dir, ex);
  return run_local(ex, dir, options);
#endif
}

}  // namespace axsim::sweep
