//===- Report.cpp - scores, tables and the written report -----------------===//

#include "apps/tasks/Tasks.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

namespace ssmc::tasks {

std::string Score::str() const {
  return std::to_string(correct) + "/" + std::to_string(total);
}

int strictArgmax(const float *logits, int64_t n) {
  int best = -1;
  float top = -INFINITY;
  bool tie = false;
  for (int64_t i = 0; i < n; ++i) {
    float x = logits[i];
    if (std::isnan(x))
      return -1;
    if (x > top) {
      top = x, best = static_cast<int>(i), tie = false;
    } else if (x == top) {
      tie = true;
    }
  }
  return tie ? -1 : best;
}

double logLogSlope(const std::vector<double> &x, const std::vector<double> &y) {
  size_t n = std::min(x.size(), y.size());
  if (n < 2)
    return NAN;
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (size_t i = 0; i < n; ++i) {
    double lx = std::log(x[i]), ly = std::log(y[i]);
    sx += lx, sy += ly, sxx += lx * lx, sxy += lx * ly;
  }
  double den = n * sxx - sx * sx;
  return den == 0 ? NAN : (n * sxy - sx * sy) / den;
}

std::string Table::markdown() const {
  std::string s = "| ";
  for (const std::string &c : columns)
    s += c + " | ";
  s.pop_back();
  s += "\n|";
  for (size_t i = 0; i < columns.size(); ++i)
    s += " --- |";
  s += "\n";
  for (const auto &row : rows) {
    s += "| ";
    for (const std::string &c : row)
      s += c + " | ";
    s.pop_back();
    s += "\n";
  }
  return s;
}

namespace {
std::string csvCell(const std::string &c) {
  if (c.find_first_of(",\"\n") == std::string::npos)
    return c;
  std::string q = "\"";
  for (char ch : c)
    q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

llvm::Error writeFile(const std::string &path, const std::string &text) {
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    return llvm::createStringError(ec, "cannot write " + path + ": " +
                                           ec.message());
  os << text;
  return llvm::Error::success();
}
} // namespace

std::string Table::csv() const {
  std::string s;
  for (size_t i = 0; i < columns.size(); ++i)
    s += (i ? "," : "") + csvCell(columns[i]);
  s += "\n";
  for (const auto &row : rows) {
    for (size_t i = 0; i < row.size(); ++i)
      s += (i ? "," : "") + csvCell(row[i]);
    s += "\n";
  }
  return s;
}

llvm::Error writeReport(const std::vector<TaskResult> &results,
                        const std::string &dir, const std::string &command) {
  if (std::error_code ec = llvm::sys::fs::create_directories(dir))
    return llvm::createStringError(ec, "cannot create " + dir + ": " +
                                           ec.message());
  llvm::json::Array tasksJson;
  std::string report = "# ssmc theory tasks: measured report\n\n";
  report += "Produced by `" + command + "`. Every number below was measured "
            "in this run; each claim of TASKS.md is stated with the "
            "measurement that decides it.\n\n## Claims\n\n";
  report += "| task | claim | supported | evidence |\n| --- | --- | --- | --- |\n";
  for (const TaskResult &r : results)
    for (const Claim &c : r.claims)
      report += "| " + c.task + " | " + c.statement + " | " +
                (c.supported ? "yes" : "**no**") + " | " + c.evidence + " |\n";
  for (const TaskResult &r : results) {
    report += "\n## " + r.task + "\n";
    llvm::json::Array tablesJson;
    for (const Table &t : r.tables) {
      report += "\n### " + t.title + "\n\n" + t.markdown();
      if (llvm::sys::fs::exists(dir + "/" + t.id + ".png"))
        report += "\n![" + t.title + "](" + t.id + ".png)\n";
      if (llvm::Error e = writeFile(dir + "/" + t.id + ".md",
                                    "# " + t.title + "\n\n" + t.markdown()))
        return e;
      if (llvm::Error e = writeFile(dir + "/" + t.id + ".csv", t.csv()))
        return e;
      llvm::json::Array rows;
      for (const auto &row : t.rows) {
        llvm::json::Object o;
        for (size_t i = 0; i < row.size() && i < t.columns.size(); ++i)
          o[t.columns[i]] = row[i];
        rows.push_back(std::move(o));
      }
      tablesJson.push_back(llvm::json::Object{{"id", t.id},
                                              {"title", t.title},
                                              {"rows", std::move(rows)}});
    }
    llvm::json::Array claimsJson;
    for (const Claim &c : r.claims)
      claimsJson.push_back(llvm::json::Object{{"claim", c.statement},
                                              {"supported", c.supported},
                                              {"evidence", c.evidence}});
    tasksJson.push_back(llvm::json::Object{{"task", r.task},
                                           {"tables", std::move(tablesJson)},
                                           {"claims", std::move(claimsJson)}});
  }
  std::string json;
  llvm::raw_string_ostream os(json);
  os << llvm::formatv("{0:2}\n",
                      llvm::json::Value(llvm::json::Object{
                          {"command", command}, {"tasks", std::move(tasksJson)}}));
  if (llvm::Error e = writeFile(dir + "/results.json", json))
    return e;
  return writeFile(dir + "/report.md", report);
}

} // namespace ssmc::tasks
