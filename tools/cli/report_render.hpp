// `axsim report`: turns run directories into one self-contained HTML page (inline SVG charts, no scripts, no
// network access), report.json (every number the page shows) and CSV tables.
//
// A run directory holds results.json (written by `axsim sim`), train.json (written by `axsim train`), or both.
// The page shows, for simulation runs: accuracy (mean, 95 % CI, per-trial distribution), energy per inference by
// component and by layer (stacked bars), cycles / latency / utilization per layer, the per-layer assignment
// (fault rate p, voltages, DRUM k, I_max), the voltage schedule over simulated time, the ledger's per-action
// energies and its reconciliation; across runs: accuracy vs energy with the Pareto front; for training runs:
// accuracy per epoch and the learned per-layer fault rates (LaNMax p) per epoch.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace axsim::report {

// Reads every run directory, then writes out_html and, next to it, <stem>.json, <stem>_runs.csv,
// <stem>_layers.csv and <stem>_energy.csv (stem = out_html without its extension; "report" by default).
// Everything is read and checked before anything is written, and every file is written atomically: bad input
// throws InputError naming the file (a directory without results.json/train.json, malformed JSON, a missing
// key) and leaves no output. Output problems throw OutputError.
void write_report(const std::vector<std::filesystem::path>& run_dirs, const std::filesystem::path& out_html);

// The pieces, for tests and other commands.
nlohmann::json build_report(const std::vector<std::filesystem::path>& run_dirs);  // throws InputError
std::string render_html(const nlohmann::json& report);
std::string runs_csv(const nlohmann::json& report);
std::string layers_csv(const nlohmann::json& report);
std::string energy_csv(const nlohmann::json& report);
// The files write_report() produces for out_html, the HTML first.
std::vector<std::filesystem::path> report_files(const std::filesystem::path& out_html);

}  // namespace axsim::report
